package uprobe

import "testing"

func TestEmulated(t *testing.T) {
	for _, tc := range []struct {
		insn []byte
		want bool
	}{
		{[]byte{0x55, 0x48}, true},  // push %rbp
		{[]byte{0x41, 0x57}, true},  // push %r15
		{[]byte{0xe9, 0x00}, true},  // jmp rel32
		{[]byte{0x48, 0x8d}, false}, // lea
		{[]byte{0x48, 0x83}, false}, // sub $imm, %rsp
		{[]byte{0xf3, 0x0f}, false}, // endbr64 itself
	} {
		if got := Emulated(tc.insn); got != tc.want {
			t.Errorf("Emulated(% x) = %v, want %v", tc.insn, got, tc.want)
		}
	}
}
