package msgset

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// TestRoundTrip: old-format data stored by ToBatch and served by
// FromBatches comes back to an old client as it was sent, for every codec
// and both magics, at the offsets the log assigned.
func TestRoundTrip(t *testing.T) {
	for _, magic := range []int8{0, 1} {
		for _, c := range allCodecs {
			t.Run(fmt.Sprintf("magic%d/%v", magic, c), func(t *testing.T) {
				msgs := sampleMessages()
				first, err := ToBatch(legacySet(t, magic, c, msgs[:3]), testNow)
				if err != nil {
					t.Fatalf("ToBatch: %v", err)
				}
				second, err := ToBatch(legacySet(t, magic, c, msgs[3:]), testNow)
				if err != nil {
					t.Fatalf("ToBatch: %v", err)
				}
				// The log assigns base offsets as it appends; these are
				// the ones checkLegacyLayout expects.
				binary.BigEndian.PutUint64(first, 100)
				binary.BigEndian.PutUint64(second, 103)
				segment := append(first, second...)

				set, err := FromBatches(segment, magic)
				if err != nil {
					t.Fatalf("FromBatches: %v", err)
				}
				if magic == 0 {
					for i := range msgs {
						msgs[i].ts = noTimestamp
					}
				}
				checkLegacyLayout(t, set, magic, c, msgs)

				// And up again: what an old client would re-produce.
				again, err := ToBatch(set, testNow)
				if err != nil {
					t.Fatalf("ToBatch of the fetched set: %v", err)
				}
				checkRecords(t, fetchRecords(t, again), msgs, 0, true)
			})
		}
	}
}
