package encoded

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Validate checks that b decodes as a message of md, without decoding it:
// the framing of every field at every depth, the UTF-8 of every string,
// the elements of packed lists. A field of a known number but of another
// wire type is an unknown field, as proto.Unmarshal takes it. Bytes passed
// on undecoded are checked so, as one malformed answer would make the whole
// merged answer fail to decode.
func Validate(md protoreflect.MessageDescriptor, b []byte) error {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		if fd != nil && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if err := validateBytes(fd, v); err != nil {
				return fmt.Errorf("%s: %w", fd.Name(), err)
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil
}

// validateBytes checks the value of a length-delimited field fd.
func validateBytes(fd protoreflect.FieldDescriptor, v []byte) error {
	switch k := fd.Kind(); {
	case k == protoreflect.MessageKind:
		return Validate(fd.Message(), v)
	case k == protoreflect.StringKind:
		if !utf8.Valid(v) {
			return errors.New("invalid UTF-8")
		}
	case k == protoreflect.GroupKind, k == protoreflect.BytesKind:
		// A group is never length-delimited: an unknown field, as bytes.
	case fd.IsList():
		return validatePacked(k, v)
	}
	return nil
}

// validatePacked checks a packed list of scalars of kind k.
func validatePacked(k protoreflect.Kind, v []byte) error {
	typ := protowire.VarintType
	switch k {
	case protoreflect.DoubleKind, protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		typ = protowire.Fixed64Type
	case protoreflect.FloatKind, protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		typ = protowire.Fixed32Type
	}
	for len(v) > 0 {
		n := protowire.ConsumeFieldValue(1, typ, v)
		if n < 0 {
			return protowire.ParseError(n)
		}
		v = v[n:]
	}
	return nil
}

// consumeTag is protowire.ConsumeTag, failing on field numbers above the
// largest valid one as proto.Unmarshal does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && !num.IsValid() {
		return 0, 0, -2 // protowire's code of an invalid field number
	}
	return num, typ, n
}
