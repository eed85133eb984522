package kafka

import (
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/partition"
)

// DescribeLogDirs: versions 0–4. Sluice has one log dir, the data dir:
// the answer lists it with the size of every local replica asked for
// (null topics: all), its offset lag (how far the log end is behind the
// high watermark, Kafka's definition for current replicas) and, from v4,
// the file system's total and usable bytes. DESCRIBE on CLUSTER, as in
// Kafka.
func init() { register(35, 0, 4, (*conn).handleDescribeLogDirs) }

func (c *conn) handleDescribeLogDirs(h *header, req *kmsg.DescribeLogDirsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !c.mayCluster(auth.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	asked := askedPartitions(req.Topics == nil, len(req.Topics), func(yield func(string, []int32)) {
		for _, t := range req.Topics {
			yield(t.Topic, t.Partitions)
		}
	})
	wanted := func(p *partition.Partition) bool { return asked(p.Topic, p.Index) }
	dir := c.s.b.Config().DataDir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	d := kmsg.NewDescribeLogDirsResponseDir()
	d.Dir = dir
	d.TotalBytes, d.UsableBytes = -1, -1
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err == nil {
		d.TotalBytes = int64(fs.Blocks) * int64(fs.Bsize)
		d.UsableBytes = int64(fs.Bavail) * int64(fs.Bsize)
	}
	byTopic := map[string]int{}
	for _, p := range c.s.b.LocalPartitions() {
		if !wanted(p) {
			continue
		}
		st := p.Stats()
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition = p.Index
		dp.Size = st.Size
		dp.OffsetLag = max(p.HighWatermark()-p.LogEndOffset(), 0)
		i, ok := byTopic[p.Topic]
		if !ok {
			dt := kmsg.NewDescribeLogDirsResponseDirTopic()
			dt.Topic = p.Topic
			d.Topics = append(d.Topics, dt)
			i = len(d.Topics) - 1
			byTopic[p.Topic] = i
		}
		d.Topics[i].Partitions = append(d.Topics[i].Partitions, dp)
	}
	slices.SortFunc(d.Topics, func(a, b kmsg.DescribeLogDirsResponseDirTopic) int { return strings.Compare(a.Topic, b.Topic) })
	for i := range d.Topics {
		slices.SortFunc(d.Topics[i].Partitions, func(a, b kmsg.DescribeLogDirsResponseDirTopicPartition) int {
			return int(a.Partition - b.Partition)
		})
	}
	resp.Dirs = append(resp.Dirs, d)
	return c.ready(h, resp)
}

// askedPartitions indexes a request's topic/partition list (all: a null
// list) so that answering is linear in the request and the local
// partitions, not their product. each yields the request's entries.
func askedPartitions(all bool, n int, each func(yield func(string, []int32))) func(topic string, part int32) bool {
	if all {
		return func(string, int32) bool { return true }
	}
	set := make(map[string]map[int32]bool, min(n, 1024))
	each(func(topic string, parts []int32) {
		ps := set[topic]
		if ps == nil {
			ps = map[int32]bool{}
			set[topic] = ps
		}
		for _, p := range parts {
			ps[p] = true
		}
	})
	return func(topic string, part int32) bool { return set[topic][part] }
}
