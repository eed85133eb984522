package records

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkValidate measures the append validator per batch: kgo's
// default batch (up to 1 MB) and Java's (16 KB), of 1 KB and 100 B
// records, uncompressed and snappy. Values are half random, half
// repeated, so snappy has something to do.
//
//	go test -run '^$' -bench BenchmarkValidate -benchtime 2000x ./core/records/
func BenchmarkValidate(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1024, 100} {
		for _, batchBytes := range []int{1 << 20, 16 << 10} {
			for _, c := range []Codec{None, Snappy} {
				n := batchBytes / size
				recs := make([]Record, n)
				for i := range recs {
					v := make([]byte, size)
					for j := 0; j < size/2; j++ {
						v[j] = byte(rng.Uint32())
					}
					recs[i] = Record{Timestamp: 1700000000000 + int64(i), Value: v}
				}
				o := Plain
				o.Codec = c
				batch, err := Encode(recs, o)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(fmt.Sprintf("%dB-records/%dKB-batch/%s", size, batchBytes>>10, codecName(c)), func(b *testing.B) {
					b.SetBytes(int64(n * size))
					b.ReportAllocs()
					for b.Loop() {
						if err := Validate(batch, ValidateOptions{}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
