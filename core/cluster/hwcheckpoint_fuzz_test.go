package cluster

import (
	"errors"
	"maps"
	"testing"
)

// FuzzHWCheckpoint decodes arbitrary checkpoint files: anything that is
// not the exact layout is errBadHWCheckpoint (never a panic or an
// allocation beyond the file), and what decodes re-encodes to a file that
// decodes to the same entries.
func FuzzHWCheckpoint(f *testing.F) {
	f.Add(encodeHWCheckpoint(map[tp]int64{{"t", 0}: 5, {"t", 1}: 0, {"u v", 2}: 1 << 40}))
	f.Add(encodeHWCheckpoint(nil))
	f.Add([]byte("0\n1\nt 0 5\n"))
	f.Add([]byte("0\n99999999999\n"))
	f.Add([]byte("0\n2\nt -1 5\nt 0 -5\n"))
	f.Add([]byte("0\n1\nt 0 5\nextra\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeHWCheckpoint(data)
		if err != nil {
			if !errors.Is(err, errBadHWCheckpoint) {
				t.Fatalf("error %v is not errBadHWCheckpoint", err)
			}
			return
		}
		if len(got) > maxHWCheckpointEntries {
			t.Fatalf("%d entries decoded, bound %d", len(got), maxHWCheckpointEntries)
		}
		for k, hw := range got {
			if k.part < 0 || hw < 0 {
				t.Fatalf("entry %v %d decoded", k, hw)
			}
		}
		again, err := decodeHWCheckpoint(encodeHWCheckpoint(got))
		if err != nil {
			// A topic name with odd bytes (a space) cannot round-trip,
			// but the decoder must still say so cleanly.
			if !errors.Is(err, errBadHWCheckpoint) {
				t.Fatalf("re-decode: %v", err)
			}
			return
		}
		if !maps.Equal(got, again) {
			t.Fatalf("round trip: %v != %v", got, again)
		}
	})
}
