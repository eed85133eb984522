package partition

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"testing"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// TestAppendValidates: a batch whose CRC is right but whose header lies
// about its records is refused with the validator's code, and nothing of
// the request (not even its valid first batch) is stored.
func TestAppendValidates(t *testing.T) {
	p, err := Open("t", 0, t.TempDir(), Config{Log: storage.Config{}, MaxMessageBytes: 1 << 20, BrokerID: 0, Compacted: true}, false, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.BecomeLeader(0, []int32{0}, []int32{0})
	good, err := records.Encode([]records.Record{{Key: []byte("k"), Value: []byte("v")}}, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	lying := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(lying[57:], 0x7fffffff) // record count
	binary.BigEndian.PutUint32(lying[23:], 0x7ffffffe) // last offset delta
	binary.BigEndian.PutUint32(lying[17:], crc32.Checksum(lying[21:], crc32.MakeTable(crc32.Castagnoli)))
	keyless, _ := records.Encode([]records.Record{{Value: []byte("v")}}, records.Plain)

	for _, tc := range []struct {
		name string
		recs []byte
		code error
	}{
		{"lying count", append(append([]byte(nil), good...), lying...), ErrCorruptMessage},
		{"no key on a compacted topic", keyless, ErrInvalidRecord},
	} {
		_, err := p.Append(tc.recs)
		var ib *InvalidBatchError
		if !errors.Is(err, tc.code) || !errors.As(err, &ib) {
			t.Fatalf("%s: got %v, want %v", tc.name, err, tc.code)
		}
	}
	if end := p.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d after refused appends, want 0", end)
	}
	if _, err := p.Append(good); err != nil {
		t.Fatalf("valid batch: %v", err)
	}
}
