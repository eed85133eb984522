package records

import (
	"encoding/binary"
	"errors"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	for _, c := range []Codec{None, Gzip, Snappy, LZ4, Zstd} {
		f.Add(sample(f, c, 3))
	}
	lying := sample(f, None, 3)
	binary.BigEndian.PutUint32(lying[posNumRecords:], 0x7fffffff)
	f.Add(lying)
	f.Add(rawBatch(None, 0, 3, 2, 0, 5, rawRecords([]int32{0, 1, 2}, []int64{0, 5, 2}, false)))
	f.Add([]byte{})
}

// FuzzDecode: no batch makes Decode panic or allocate out of proportion
// to its bytes (it is capped by the budget when compressed); errors are
// ErrCorrupt.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./core/records/
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, batch []byte) {
		b, err := DecodeWithin(batch, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		if len(b.Records) > len(batch)+1<<20 {
			t.Fatalf("%d records from %d bytes", len(b.Records), len(batch))
		}
	})
}

// FuzzValidate: no batch makes Validate panic; what it accepts decodes to
// exactly the records its header declares, with offsets base..base+n-1,
// and re-encodes.
//
//	go test -run '^$' -fuzz FuzzValidate -fuzztime 30s ./core/records/
func FuzzValidate(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, batch []byte) {
		batch = append([]byte(nil), batch...) // Validate may fix the max timestamp in place
		err := Validate(batch, ValidateOptions{DecompressBudget: 1 << 20})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		b, err := DecodeWithin(batch, 1<<20)
		if err != nil {
			t.Fatalf("validated batch does not decode: %v", err)
		}
		n := int32(binary.BigEndian.Uint32(batch[posNumRecords:]))
		if int32(len(b.Records)) != n {
			t.Fatalf("validated batch declares %d records, decodes %d", n, len(b.Records))
		}
		for i, r := range b.Records {
			if r.Offset != b.BaseOffset+int64(i) {
				t.Fatalf("record %d has offset %d (base %d)", i, r.Offset, b.BaseOffset)
			}
		}
		o := Plain
		o.Codec = b.Codec
		if _, err := Encode(b.Records, o); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
