package broker

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicemq/sluice/core/meta"
)

// Stray partition directories: a broker that was down while a
// reassignment removed it from a partition's replicas (or while a topic
// was deleted) never saw the change that deletes its copy, and finds the
// directory at its next start. Kafka's controller retries StopReplica
// with deletion when such a broker returns; here the broker itself
// compares its data dir with the metadata once it has read it. A stray
// directory is renamed to <topic>-<partition>.<id>-delete (as Kafka marks
// logs for deletion), so a crash never leaves it half removed under its
// own name, and deleted in the background; leftover -delete directories
// of an earlier run are deleted at start too.

// strayDeleteSuffix ends the name of a directory being deleted.
const strayDeleteSuffix = "-delete"

// partitionDirRe matches <topic>-<partition> with Kafka's topic name
// characters and a canonical partition number.
var partitionDirRe = regexp.MustCompile(`^([a-zA-Z0-9._-]{1,249})-(0|[1-9][0-9]{0,9})$`)

// deletionMarkers is implemented by stores that keep a marker for each
// deleted topic (meta.ZK). A broker acknowledges a marker once it holds
// no copy of the topic (AckDeletion); the last acknowledgement removes
// it, so markers do not pile up in a cluster that creates and deletes
// topics all day (every start reads them all).
type deletionMarkers interface {
	PendingDeletions() ([]meta.DeletedTopic, error)
	AckDeletion(name string, broker int32) error
}

// ackDeletion tells the store this broker deleted its copies of a deleted
// topic name. A failure only delays the marker's removal: the broker
// acknowledges every marker naming it at its next start.
func (b *Broker) ackDeletion(name string) {
	dm, ok := b.store.(deletionMarkers)
	if !ok {
		return
	}
	if err := dm.AckDeletion(name, b.cfg.BrokerID); err != nil {
		b.logger.Warn("acknowledging a topic deletion failed; retried at the next start", "topic", name, "err", err)
	}
}

// pendingDeletions reads the store's deletion markers once for a start's
// stray scan and acknowledgements (each marker is a ZooKeeper read): nil
// when the store keeps none or they could not be read.
func (b *Broker) pendingDeletions() []meta.DeletedTopic {
	dm, ok := b.store.(deletionMarkers)
	if !ok {
		return nil
	}
	list, err := dm.PendingDeletions()
	if err != nil {
		b.logger.Warn("stray partition scan: reading topic deletion markers failed", "err", err)
		return nil
	}
	return list
}

// ackPendingDeletions acknowledges, at start, every deletion marker that
// waits for this broker: by then reconcile has removed copies of earlier
// incarnations of re-created topics (claimPartitionDir) and the stray
// scan has moved aside those of topics that are gone.
func (b *Broker) ackPendingDeletions(markers []meta.DeletedTopic) {
	for _, d := range markers {
		if slices.Contains(d.Pending, b.cfg.BrokerID) {
			b.ackDeletion(d.Name)
		}
	}
}

// strayDir is a partition directory this broker should not hold.
type strayDir struct {
	topic  string
	part   int32
	reason string
}

// findStrayPartitions lists the partition directories in the data dir that
// the metadata says this broker does not host: a partition of an existing
// topic whose replicas leave this broker out (or that the topic does not
// have), or a topic that is gone and has a deletion marker. A directory
// of a topic missing from the metadata without a marker is left alone
// (and logged): metadata that lacks a topic for another reason, such as
// a wrong ZooKeeper chroot, must not cost its data. Directories of
// partitions this broker has open are never stray. markers are the
// store's deletion markers.
func (b *Broker) findStrayPartitions(markers []meta.DeletedTopic) []strayDir {
	entries, err := os.ReadDir(b.cfg.DataDir)
	if err != nil {
		b.logger.Warn("stray partition scan: reading the data dir failed", "err", err)
		return nil
	}
	deleted := make(map[string]bool, len(markers))
	for _, d := range markers {
		deleted[d.Name] = true
	}
	var out []strayDir
	for _, e := range entries {
		m := partitionDirRe.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil || !looksLikePartitionDir(filepath.Join(b.cfg.DataDir, e.Name())) {
			continue
		}
		name := m[1]
		idx, err := strconv.ParseInt(m[2], 10, 32)
		if err != nil {
			continue
		}
		part := int32(idx)
		if p, ok := b.localPartition(name, part); ok && p != nil {
			continue // opened by reconcile: hosted
		}
		t, ok := b.store.Topic(name)
		switch {
		case ok && int(part) < len(t.Partitions) && slices.Contains(t.Partitions[part].Replicas, b.cfg.BrokerID):
			// A replica after all (the metadata changed since the
			// reconcile): the next reconcile opens it.
			continue
		case ok && int(part) < len(t.Partitions):
			out = append(out, strayDir{name, part, "not a replica"})
		case ok:
			out = append(out, strayDir{name, part, "partition does not exist"})
		default:
			if deleted[name] {
				out = append(out, strayDir{name, part, "topic deleted"})
			} else {
				b.logger.Warn("partition directory of a topic the metadata does not know; left in place",
					"topic", name, "partition", part, "dir", e.Name())
			}
		}
	}
	return out
}

// looksLikePartitionDir reports whether dir holds a partition's files, so
// that an unrelated directory whose name happens to end in -N is never
// removed.
func looksLikePartitionDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasSuffix(n, ".log") || strings.HasSuffix(n, ".index") || n == "leader-epoch-checkpoint" ||
			n == "recovery-point" || n == "log-start-offset" || n == partitionMetadataFile {
			return true
		}
	}
	return false
}

// removeStrayPartitions renames the stray partition directories for
// deletion, logs each, and deletes them (and leftovers of an earlier run)
// in the background. Only cluster members have strays: a single node's
// metadata is its own data dir's. It returns what it removed.
func (b *Broker) removeStrayPartitions() []strayDir {
	if b.local != nil {
		return nil
	}
	markers := b.pendingDeletions()
	strays := b.findStrayPartitions(markers)
	var doomed []string
	for _, s := range strays {
		dir := partitionDir(b.cfg.DataDir, s.topic, s.part)
		size := dirSize(dir)
		to := dir + "." + randomSuffix() + strayDeleteSuffix
		if err := os.Rename(dir, to); err != nil {
			b.logger.Error("stray partition directory not removed", "topic", s.topic, "partition", s.part, "err", err)
			continue
		}
		b.logger.Info("removing stray partition directory", "topic", s.topic, "partition", s.part,
			"reason", s.reason, "bytes", size, "moved_to", filepath.Base(to))
		doomed = append(doomed, to)
	}
	if len(doomed) > 0 {
		if err := syncDir(b.cfg.DataDir); err != nil {
			b.logger.Warn("stray partition scan: syncing the data dir failed", "err", err)
		}
	}
	b.ackPendingDeletions(markers)
	if entries, err := os.ReadDir(b.cfg.DataDir); err == nil {
		for _, e := range entries {
			if e.IsDir() && strings.HasSuffix(e.Name(), strayDeleteSuffix) {
				p := filepath.Join(b.cfg.DataDir, e.Name())
				if !slices.Contains(doomed, p) {
					doomed = append(doomed, p) // left by an earlier run
				}
			}
		}
	}
	if len(doomed) > 0 {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for _, d := range doomed {
				if err := os.RemoveAll(d); err != nil {
					b.logger.Warn("deleting a stray partition directory failed", "dir", filepath.Base(d), "err", err)
				}
			}
		}()
	}
	return strays
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func randomSuffix() string {
	var buf [8]byte
	_, _ = rand.Read(buf[:])
	return hex.EncodeToString(buf[:])
}
