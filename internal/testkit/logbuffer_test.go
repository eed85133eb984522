package testkit

import "testing"

// TestLogBufferTail: a limited buffer keeps exactly its last limit bytes.
func TestLogBufferTail(t *testing.T) {
	b := &logBuffer{limit: 8}
	for _, s := range []string{"hello ", "world", "!"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.String(); got != "o world!" {
		t.Fatalf("tail = %q, want %q", got, "o world!")
	}
}
