package main

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMurmur2MatchesKafka checks the inline hash against franz-go's Kafka
// default partitioner for keys of every length remainder.
func TestMurmur2MatchesKafka(t *testing.T) {
	def := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := 0; i < 5000; i++ {
		full := "key-" + strconv.Itoa(i*7919) + "-padding"
		key := []byte(full[:1+i%len(full)])
		for _, n := range []int{1, 3, 7, 64} {
			want := def.Partition(&kgo.Record{Key: key}, n)
			if got := int(int32(murmur2(key)&0x7fffffff) % int32(n)); got != want {
				t.Fatalf("key %q, %d partitions: %d, Kafka's default %d", key, n, got, want)
			}
		}
	}
}
