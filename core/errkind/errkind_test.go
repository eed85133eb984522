package errkind

import (
	"errors"
	"fmt"
	"testing"
)

func TestOfFindsTheFirstKind(t *testing.T) {
	inner := New(NotLeader, "inner")
	outer := Wrap(UnknownTopic, "outer", inner)
	for _, tc := range []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Unknown},
		{"plain", errors.New("x"), Unknown},
		{"sentinel", inner, NotLeader},
		{"refining sentinel: its own kind", outer, UnknownTopic},
		{"wrapped", fmt.Errorf("a: %w", inner), NotLeader},
		{"joined, first with a kind", errors.Join(errors.New("x"), inner, New(Storage, "s")), NotLeader},
		{"two %w, in order", fmt.Errorf("%w: %w", New(Storage, "s"), inner), Storage},
		{"unknown kind is skipped", fmt.Errorf("%w", Wrap(Unknown, "none", inner)), NotLeader},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: kind %d, want %d", tc.name, got, tc.want)
		}
	}
	if !errors.Is(outer, inner) || outer.Error() != "outer: inner" {
		t.Fatalf("refining sentinel: Is %v, text %q", errors.Is(outer, inner), outer.Error())
	}
	if Is(errors.New("x"), Unknown) || !Is(fmt.Errorf("w: %w", inner), NotLeader) {
		t.Fatal("Is answers wrongly")
	}
}
