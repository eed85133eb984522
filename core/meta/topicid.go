package meta

import (
	"encoding/base64"
	"fmt"
)

// TopicIDString renders a topic id the way Kafka prints a Uuid: URL-safe
// base64 without padding (ZooKeeper's topic znodes and deletion markers,
// partition.metadata files, the CLI).
func TopicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseTopicID reads a topic id written by TopicIDString.
func ParseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("meta: bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}
