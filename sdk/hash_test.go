package sdk

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaPartitionMatchesKafka checks the SDK's murmur2 placement against
// franz-go's Kafka default partitioner for keys of every length remainder
// and several partition counts.
func TestKafkaPartitionMatchesKafka(t *testing.T) {
	def := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := 0; i < 5000; i++ {
		full := "key-" + strconv.Itoa(i*7919) + "-padding"
		key := []byte(full[:1+i%len(full)])
		for _, n := range []int{1, 3, 7, 64} {
			if got, want := KafkaPartition(key, n), def.Partition(&kgo.Record{Key: key}, n); got != want {
				t.Fatalf("key %q, %d partitions: %d, Kafka's default %d", key, n, got, want)
			}
		}
	}
	// Kafka's own test vectors (Java client's UtilsTest).
	for in, want := range map[string]int32{"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536} {
		if got := int32(Murmur2([]byte(in))); got != want {
			t.Errorf("Murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}
