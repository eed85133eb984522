package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/internal/atomicfile"
)

// A partition directory records the id of the topic it belongs to, in
// Kafka's partition.metadata format (KIP-516). Directory names carry only
// the topic's name, and a topic deleted and created again under the same
// name while a broker was down (or whose deletion a crash interrupted)
// would otherwise have the old topic's records served as the new one's:
// the broker finds <topic>-<n> at its next start and the metadata says it
// hosts <topic>-<n>. With the id, the old directory is told apart and
// removed before the partition is opened.

// partitionMetadataFile is Kafka's name for the file.
const partitionMetadataFile = "partition.metadata"

// encodePartitionMetadata writes the file's content: Kafka's version 0,
// the id in Kafka's Uuid string form.
func encodePartitionMetadata(id [16]byte) []byte {
	return fmt.Appendf(nil, "version: 0\ntopic_id: %s\n", meta.TopicIDString(id))
}

// noMetadataFile is adoptPartitionDir's reason for a directory without
// the file.
const noMetadataFile = "no partition.metadata"

// errBadPartitionMetadata: the file exists but does not parse.
var errBadPartitionMetadata = errors.New("malformed partition.metadata")

// decodePartitionMetadata parses the file's content.
func decodePartitionMetadata(b []byte) ([16]byte, error) {
	var id [16]byte
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || strings.TrimSpace(lines[0]) != "version: 0" {
		return id, errBadPartitionMetadata
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(lines[1]), "topic_id: ")
	if !ok {
		return id, errBadPartitionMetadata
	}
	id, err := meta.ParseTopicID(strings.TrimSpace(v))
	if err != nil {
		return id, errBadPartitionMetadata
	}
	return id, nil
}

// claimPartitionDir makes dir a directory of topic t before its partition
// is opened there:
//   - missing: created with t's id (the file is not fsynced: a new
//     partition has nothing to lose, and a file a crash left empty or
//     missing is rewritten at the next open, below);
//   - holding t's id: nothing to do;
//   - holding another id: an earlier topic of the same name; renamed for
//     deletion (as stray directories are) and deleted, and a new one made;
//   - without the file or with a malformed one (written before topic ids
//     were recorded, or torn by a crash right after its creation): adopted,
//     the id written durably.
//
// A topic without an id (a ZooKeeper topic znode written by an old tool)
// claims nothing: there is nothing to compare.
func (b *Broker) claimPartitionDir(dir string, t meta.Topic, part int32) error {
	if t.ID == ([16]byte{}) {
		return nil
	}
	want := encodePartitionMetadata(t.ID)
	path := filepath.Join(dir, partitionMetadataFile)
	have, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return b.newPartitionDir(dir, want, t, part)
		}
		return b.adoptPartitionDir(path, want, t, part, noMetadataFile)
	case err != nil:
		return fmt.Errorf("partition %s-%d: read %s: %w", t.Name, part, partitionMetadataFile, err)
	case bytes.Equal(have, want):
		return nil
	}
	id, err := decodePartitionMetadata(have)
	if err != nil {
		return b.adoptPartitionDir(path, want, t, part, err.Error())
	}
	if id == t.ID {
		return nil // same id, other spelling (written by Kafka's tools)
	}
	doomed := dir + "." + randomSuffix() + strayDeleteSuffix
	if err := os.Rename(dir, doomed); err != nil {
		return fmt.Errorf("partition %s-%d: moving aside the directory of an earlier topic of that name: %w", t.Name, part, err)
	}
	b.logger.Warn("partition directory belongs to an earlier topic of the same name; deleting it",
		"topic", t.Name, "partition", part, "dir_topic_id", meta.TopicIDString(id),
		"topic_id", meta.TopicIDString(t.ID), "bytes", dirSize(doomed))
	if err := os.RemoveAll(doomed); err != nil {
		// Renamed, so never opened as the topic's again; a later
		// start deletes leftovers (removeStrayPartitions).
		b.logger.Warn("deleting an earlier topic's partition directory failed", "dir", filepath.Base(doomed), "err", err)
	}
	return b.newPartitionDir(dir, want, t, part)
}

// newPartitionDir creates dir with its partition.metadata.
func (b *Broker) newPartitionDir(dir string, content []byte, t meta.Topic, part int32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("partition %s-%d: create its directory: %w", t.Name, part, err)
	}
	if err := os.WriteFile(filepath.Join(dir, partitionMetadataFile), content, 0o644); err != nil {
		return fmt.Errorf("partition %s-%d: write %s: %w", t.Name, part, partitionMetadataFile, err)
	}
	return nil
}

// adoptPartitionDir records t's id in an existing directory that has none.
func (b *Broker) adoptPartitionDir(path string, content []byte, t meta.Topic, part int32, why string) error {
	if why == noMetadataFile {
		// Every partition of a data dir written before topic ids were
		// recorded, once: not worth a line each.
		b.logger.Debug("recording the topic id of a partition directory", "topic", t.Name, "partition", part)
	} else {
		b.logger.Warn("recording the topic id of a partition directory", "topic", t.Name, "partition", part, "reason", why)
	}
	if err := atomicfile.Write(path, content); err != nil {
		return fmt.Errorf("partition %s-%d: write %s: %w", t.Name, part, partitionMetadataFile, err)
	}
	return nil
}
