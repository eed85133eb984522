package broker

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantTopicIDFile checks a partition directory's partition.metadata.
func wantTopicIDFile(t *testing.T, dir string, id [16]byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	if string(got) != want {
		t.Fatalf("%s holds %q, want %q", partitionMetadataFile, got, want)
	}
}

// TestRecreatedTopicDropsEarlierData: a broker that finds, at start, the
// directory of a topic deleted and created again under the same name
// while it was down (or whose deletion a crash interrupted) deletes it:
// the new topic starts empty, not with the old one's records.
func TestRecreatedTopicDropsEarlierData(t *testing.T) {
	var logs syncWriter
	logs.w = &bytes.Buffer{}
	b := openTestBroker(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
	dataDir := b.Config().DataDir
	old, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, b, "t", 0, 5)
	appendN(t, b, "t", 1, 3)
	b.FlushAll()
	wantTopicIDFile(t, partitionDir(dataDir, "t", 0), old.ID)
	// The copy the broker will miss the deletion of: moved out of the
	// way (the open partition keeps writing to it), so the deletion
	// below removes nothing of it.
	saved := filepath.Join(t.TempDir(), "t-0")
	if err := os.Rename(partitionDir(dataDir, "t", 0), saved); err != nil {
		t.Fatal(err)
	}

	if err := b.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	cur, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID == old.ID {
		t.Fatal("re-created topic has the old id")
	}
	b = restart(t, b)
	b.Close()
	// What the broker missed: its t-0 is still the old topic's.
	if err := os.RemoveAll(partitionDir(dataDir, "t", 0)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, partitionDir(dataDir, "t", 0)); err != nil {
		t.Fatal(err)
	}
	b = openTestBroker(t, b.Config(), nil)

	p, err := b.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("re-created topic's t-0 has high watermark %d: the old topic's records", hw)
	}
	wantTopicIDFile(t, partitionDir(dataDir, "t", 0), cur.ID)
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), strayDeleteSuffix) {
			t.Fatalf("left %s behind", e.Name())
		}
	}
	if !strings.Contains(logs.String(), `msg="partition directory belongs to an earlier topic of the same name; deleting it" topic=t partition=0`) {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	appendN(t, b, "t", 0, 2)
	b.FlushAll()
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("high watermark %d after 2 appends to the new t-0", hw)
	}
}

// TestPartitionDirAdoptsTopicID: a directory without partition.metadata
// (written before topic ids were recorded) or with a malformed one keeps
// its records and gets the topic's id.
func TestPartitionDirAdoptsTopicID(t *testing.T) {
	for _, content := range []string{"", "version: 0\ntopic_id: not-an-id\n", "garbage"} {
		b := openTestBroker(t, Config{}, nil)
		dataDir := b.Config().DataDir
		topic, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, b, "t", 0, 4)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(partitionDir(dataDir, "t", 0), partitionMetadataFile)
		if content == "" {
			err = os.Remove(path)
		} else {
			err = os.WriteFile(path, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		b = openTestBroker(t, b.Config(), nil)
		p, err := b.Partition("t", 0)
		if err != nil {
			t.Fatal(err)
		}
		if hw := p.HighWatermark(); hw != 4 {
			t.Fatalf("partition.metadata %q: high watermark %d after the open, want 4", content, hw)
		}
		wantTopicIDFile(t, partitionDir(dataDir, "t", 0), topic.ID)
	}
}

// TestTopicIDFileFormat: Kafka's format, and Kafka's spelling of an id
// reads back.
func TestTopicIDFileFormat(t *testing.T) {
	id := [16]byte{0x7d, 0x1d, 0xd9, 0x1e, 0xa9, 0xdb, 0x45, 0xd2, 0xb6, 0x6c, 0xc7, 0xbe, 0x6e, 0xfd, 0xc7, 0x90}
	enc := encodePartitionMetadata(id)
	if string(enc) != "version: 0\ntopic_id: fR3ZHqnbRdK2bMe-bv3HkA\n" {
		t.Fatalf("encoded %q", enc)
	}
	for _, in := range []string{string(enc), "version: 0\ntopic_id: fR3ZHqnbRdK2bMe-bv3HkA", "version: 0\r\ntopic_id: fR3ZHqnbRdK2bMe-bv3HkA\r\n"} {
		got, err := decodePartitionMetadata([]byte(in))
		if err != nil || got != id {
			t.Fatalf("decode %q: %x, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "version: 1\ntopic_id: fR3ZHqnbRdK2bMe-bv3HkA\n", "version: 0\n", "version: 0\ntopic_id: fR3ZHqnb\n", "version: 0\nid: fR3ZHqnbRdK2bMe-bv3HkA\n"} {
		if _, err := decodePartitionMetadata([]byte(in)); err != errBadPartitionMetadata {
			t.Fatalf("decode %q: %v, want errBadPartitionMetadata", in, err)
		}
	}
}
