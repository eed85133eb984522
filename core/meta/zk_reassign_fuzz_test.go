package meta

import "testing"

// FuzzReassignmentsJSON decodes arbitrary /admin/reassign_partitions
// contents (written by Sluice or by Kafka's own tools): an error or a
// list, never a panic; a decoded list encodes and decodes back the same.
func FuzzReassignmentsJSON(f *testing.F) {
	f.Add(encodeReassignments([]Reassignment{{Topic: "t", Partition: 0, Target: []int32{1, 2}}, {Topic: "u", Partition: 3, Target: nil, Original: []int32{0}}}))
	f.Add([]byte(`{"version":1,"partitions":[{"topic":"t","partition":-1,"replicas":[]}]}`))
	f.Add([]byte(`{"version":1,"partitions":null}`))
	f.Add([]byte(`{"partitions":[{"topic":"t","partition":99999999999}]}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeReassignments(data)
		if err != nil {
			return
		}
		again, err := decodeReassignments(encodeReassignments(got))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("round trip: %d entries, then %d", len(got), len(again))
		}
	})
}
