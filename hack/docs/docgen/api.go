package docgen

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/emicklei/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/orb8/orb8/api/orb8/v1" // registers the API's descriptors (JSON names)
)

// API writes api.md from the .proto file: the services and their methods,
// then every message and enum with its fields and comments. JSON names come
// from the compiled descriptors, as the CLI's -o json prints them.
func API(out Files, protoFile string) error {
	f, err := os.Open(protoFile)
	if err != nil {
		return err
	}
	defer f.Close()
	def, err := proto.NewParser(f).Parse()
	if err != nil {
		return err
	}
	var pkg string
	var b, types bytes.Buffer
	b.WriteString(generatedNote("api/orb8/v1/orb8.proto"))
	b.WriteString("# API reference\n\n")
	proto.Walk(def,
		proto.WithPackage(func(p *proto.Package) { pkg = p.Name }),
		proto.WithService(func(s *proto.Service) {
			fmt.Fprintf(&b, "## Service `%s.%s`\n\n%s| method | request | response | what |\n|---|---|---|---|\n", pkg, s.Name, paragraph(s.Comment))
			for _, e := range s.Elements {
				rpc, ok := e.(*proto.RPC)
				if !ok {
					continue
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s%s | %s |\n", rpc.Name, typeRef(rpc.RequestType),
					map[bool]string{true: "stream of "}[rpc.StreamsReturns], typeRef(rpc.ReturnsType), oneLine(rpc.Comment))
			}
			b.WriteString("\n")
		}),
	)
	for _, e := range def.Elements {
		switch e := e.(type) {
		case *proto.Message:
			writeMessage(&types, pkg, "", e)
		case *proto.Enum:
			writeEnum(&types, "", e)
		}
	}
	if c := fileComment(def); c != "" {
		b.WriteString(c + "\n\n")
	}
	b.WriteString("## Messages and enums\n\n")
	b.Write(types.Bytes())
	out["api.md"] = b.Bytes()
	return nil
}

// fileComment is the comment above the syntax statement.
func fileComment(def *proto.Proto) string {
	for _, e := range def.Elements {
		if s, ok := e.(*proto.Syntax); ok && s.Comment != nil {
			return strings.TrimSpace(joinLines(s.Comment))
		}
	}
	return ""
}

func writeMessage(b *bytes.Buffer, pkg, parent string, m *proto.Message) {
	name := parent + m.Name
	fmt.Fprintf(b, "### %s\n\n%s", name, paragraph(m.Comment))
	desc, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(pkg + "." + name))
	md, _ := desc.(protoreflect.MessageDescriptor)
	var rows []string
	var nested []*proto.Message
	var enums []*proto.Enum
	field := func(f *proto.Field, typ, note string) {
		jsonName := f.Name
		if md != nil {
			if fd := md.Fields().ByName(protoreflect.Name(f.Name)); fd != nil {
				jsonName = fd.JSONName()
			}
		}
		text := oneLine(f.Comment)
		if text == "" {
			text = oneLine(f.InlineComment)
		}
		if note != "" {
			text = strings.TrimSpace(note + " " + text)
		}
		rows = append(rows, fmt.Sprintf("| `%s` | `%s` | %s | %d | %s |\n", f.Name, jsonName, typ, f.Sequence, text))
	}
	for _, e := range m.Elements {
		switch e := e.(type) {
		case *proto.NormalField:
			typ := typeRef(e.Type)
			if e.Repeated {
				typ = "repeated " + typ
			}
			field(e.Field, typ, "")
		case *proto.MapField:
			field(e.Field, fmt.Sprintf("map&lt;%s, %s&gt;", e.KeyType, typeRef(e.Type)), "")
		case *proto.Oneof:
			for _, o := range e.Elements {
				if of, ok := o.(*proto.OneOfField); ok {
					field(of.Field, typeRef(of.Type), "(one of `"+e.Name+"`)")
				}
			}
		case *proto.Message:
			nested = append(nested, e)
		case *proto.Enum:
			enums = append(enums, e)
		}
	}
	if len(rows) == 0 {
		b.WriteString("No fields.\n\n")
	} else {
		b.WriteString("| field | JSON | type | number | what |\n|---|---|---|---|---|\n")
		for _, r := range rows {
			b.WriteString(r)
		}
		b.WriteString("\n")
	}
	for _, n := range nested {
		writeMessage(b, pkg, name+".", n)
	}
	for _, e := range enums {
		writeEnum(b, name+".", e)
	}
}

func writeEnum(b *bytes.Buffer, parent string, e *proto.Enum) {
	fmt.Fprintf(b, "### %s%s\n\nEnum. %s| value | number | what |\n|---|---|---|\n", parent, e.Name, paragraph(e.Comment))
	for _, v := range e.Elements {
		if f, ok := v.(*proto.EnumField); ok {
			text := oneLine(f.Comment)
			if text == "" {
				text = oneLine(f.InlineComment)
			}
			fmt.Fprintf(b, "| `%s` | %d | %s |\n", f.Name, f.Integer, text)
		}
	}
	b.WriteString("\n")
}

// typeRef links a message or enum of this file to its heading; scalar and
// well-known types stay code.
func typeRef(t string) string {
	if strings.Contains(t, ".") || strings.ToLower(t[:1]) == t[:1] {
		return "`" + t + "`"
	}
	return "[`" + t + "`](#" + strings.ToLower(strings.ReplaceAll(t, ".", "")) + ")"
}

func joinLines(c *proto.Comment) string {
	if c == nil {
		return ""
	}
	lines := make([]string, len(c.Lines))
	for i, l := range c.Lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

func oneLine(c *proto.Comment) string {
	return escapeCell(strings.ReplaceAll(joinLines(c), "\n", " "))
}

func paragraph(c *proto.Comment) string {
	if s := joinLines(c); s != "" {
		return s + "\n\n"
	}
	return ""
}
