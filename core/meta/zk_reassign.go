package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"
)

// zkReassignPath holds the requested and ongoing partition reassignments,
// Kafka's /admin/reassign_partitions (docs/zookeeper-layout.md). It exists
// only while some reassignment does.
const zkReassignPath = "/admin/reassign_partitions"

// zkReassignments is /admin/reassign_partitions: Kafka's version 1 layout
// (topic, partition, replicas) plus the original replicas the controller
// records when it starts a move; a null replicas list asks to cancel.
type zkReassignments struct {
	Version    int                   `json:"version"`
	Partitions []zkReassignPartition `json:"partitions"`
}

type zkReassignPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	Original  []int32 `json:"original_replicas,omitempty"`
}

// maxReassignments bounds the list one node holds (and what a request may
// add to it): ZooKeeper's default node limit is 1 MiB.
const maxReassignments = 10000

func encodeReassignments(rs []Reassignment) []byte {
	n := zkReassignments{Version: 1, Partitions: make([]zkReassignPartition, 0, len(rs))}
	for _, r := range rs {
		n.Partitions = append(n.Partitions, zkReassignPartition{Topic: r.Topic, Partition: r.Partition, Replicas: r.Target, Original: r.Original})
	}
	return mustJSON(n)
}

func decodeReassignments(data []byte) ([]Reassignment, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var n zkReassignments
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("meta: reassignments: %w", err)
	}
	out := make([]Reassignment, 0, len(n.Partitions))
	for _, p := range n.Partitions {
		out = append(out, Reassignment{Topic: p.Topic, Partition: p.Partition, Target: p.Replicas, Original: p.Original})
	}
	return out, nil
}

// ReassignmentsVersion reads /admin/reassign_partitions straight from
// ZooKeeper with its znode version (-1 when there is none), the token
// CommitReassignment compares against.
func (z *ZK) ReassignmentsVersion() ([]Reassignment, int32, error) {
	data, stat, err := z.conn.Get(z.abs(zkReassignPath))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, -1, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("meta: read %s: %w", zkReassignPath, err)
	}
	rs, err := decodeReassignments(data)
	return rs, stat.Version, err
}

// Reassignments implements ReassignmentStore.
func (z *ZK) Reassignments() ([]Reassignment, error) {
	rs, _, err := z.ReassignmentsVersion()
	return rs, err
}

// AlterReassignments merges requests into /admin/reassign_partitions with
// compare-and-set: a new target replaces an older one (keeping the
// original replicas of a started move, as Kafka does), a cancellation of
// a move not yet started drops it, of a started one marks it for the
// controller to roll back.
func (z *ZK) AlterReassignments(reqs []Reassignment) []error {
	errs := make([]error, len(reqs))
	for range zkWriteAttempts {
		cur, ver, err := z.ReassignmentsVersion()
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
			return errs
		}
		next := slices.Clone(cur)
		for i, r := range reqs {
			errs[i] = nil
			idx := slices.IndexFunc(next, func(e Reassignment) bool { return e.Topic == r.Topic && e.Partition == r.Partition })
			switch {
			case r.Target == nil && idx < 0:
				errs[i] = fmt.Errorf("%w: %s-%d", ErrNoReassignment, r.Topic, r.Partition)
			case r.Target == nil && !next[idx].Started():
				next = slices.Delete(next, idx, idx+1)
			case r.Target == nil:
				next[idx].Target = nil
			case idx >= 0:
				next[idx].Target = slices.Clone(r.Target)
			case len(next) >= maxReassignments:
				errs[i] = fmt.Errorf("%w: more than %d reassignments at once", ErrInvalid, maxReassignments)
			default:
				next = append(next, Reassignment{Topic: r.Topic, Partition: r.Partition, Target: slices.Clone(r.Target)})
			}
		}
		if err := z.writeReassignments(next, ver); errors.Is(err, ErrBadVersion) {
			continue
		} else if err != nil {
			for i := range errs {
				if errs[i] == nil {
					errs[i] = err
				}
			}
		}
		return errs
	}
	for i := range errs {
		if errs[i] == nil {
			errs[i] = fmt.Errorf("%w: %s kept changing", ErrBadVersion, zkReassignPath)
		}
	}
	return errs
}

// writeReassignments stores list if the node still has version ver (-1:
// absent), deleting the node when list is empty.
func (z *ZK) writeReassignments(list []Reassignment, ver int32) error {
	path := z.abs(zkReassignPath)
	var err error
	switch {
	case len(list) == 0 && ver < 0:
		return nil
	case len(list) == 0:
		err = z.conn.Delete(path, ver)
	case ver < 0:
		_, err = z.create(path, encodeReassignments(list), 0)
		if errors.Is(err, zk.ErrNodeExists) {
			return &VersionConflictError{Path: path, ExpectedVersion: ver}
		}
	default:
		_, err = z.conn.Set(path, encodeReassignments(list), ver)
	}
	if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) {
		return &VersionConflictError{Path: path, ExpectedVersion: ver}
	}
	if err != nil {
		return fmt.Errorf("meta: write %s: %w", zkReassignPath, err)
	}
	return nil
}

// ReassignStep is one transition of a reassignment, written atomically by
// CommitReassignment.
type ReassignStep struct {
	Topic     string
	Partition int32
	// From is the partition's replica set the step was decided on; the
	// step fails with ErrBadVersion if the stored one differs. nil: the
	// partition is gone and only the list is written.
	From []int32
	// Replicas is the new replica set; nil leaves it.
	Replicas []int32
	// State, if set, is written over the state of version StateVersion,
	// fenced on ControllerEpoch like SetPartitionState.
	State           *PartitionState
	StateVersion    int32
	ControllerEpoch int32
	// List replaces /admin/reassign_partitions if its version is still
	// ListVersion.
	List        []Reassignment
	ListVersion int32
}

// CommitReassignment writes a step in one transaction: the topic's
// assignment (conditional on its version and on the partition's replicas
// being From), the partition state and the reassignment list. A lost race
// anywhere fails the whole step with ErrBadVersion (re-read and decide
// again) and writes nothing.
func (z *ZK) CommitReassignment(s ReassignStep) error {
	var ops []any
	if t := z.fencingTerm(s.ControllerEpoch); t != nil {
		ops = append(ops, &zk.CheckVersionRequest{Path: z.abs(zkControllerEpochPath), Version: t.epochVersion})
	} else {
		return fmt.Errorf("%w: controller epoch %d is not this broker's term", ErrNotController, s.ControllerEpoch)
	}
	if s.From == nil {
		return z.commitReassignList(ops, s)
	}
	topicPath := z.abs(zkTopicPath(s.Topic))
	data, stat, err := z.conn.Get(topicPath)
	if errors.Is(err, zk.ErrNoNode) {
		return ErrUnknownTopic
	}
	if err != nil {
		return fmt.Errorf("meta: read %s: %w", topicPath, err)
	}
	var a zkTopicAssignment
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("meta: topic assignment: %w", err)
	}
	key := strconv.Itoa(int(s.Partition))
	cur, ok := a.Partitions[key]
	if !ok {
		return fmt.Errorf("%w: %s-%d", ErrUnknownPartition, s.Topic, s.Partition)
	}
	if !slices.Equal(cur, s.From) {
		return &VersionConflictError{Path: topicPath, ExpectedVersion: stat.Version}
	}
	replicas := cur
	if s.Replicas != nil {
		replicas = s.Replicas
		a.Partitions[key] = s.Replicas
		ops = append(ops, &zk.SetDataRequest{Path: topicPath, Data: mustJSON(a), Version: stat.Version})
	} else {
		ops = append(ops, &zk.CheckVersionRequest{Path: topicPath, Version: stat.Version})
	}
	if s.State != nil {
		if err := validateState(*s.State, replicas); err != nil {
			return err
		}
		ops = append(ops, &zk.SetDataRequest{Path: z.abs(zkPartitionStatePath(s.Topic, s.Partition)),
			Data: encodePartitionState(*s.State, s.ControllerEpoch), Version: s.StateVersion})
	}
	ops = append(ops, z.reassignListOp(s)...)
	res, err := z.conn.Multi(ops...)
	if err != nil {
		idx, ferr := firstMultiError(res, err)
		switch {
		case idx == 0 && errors.Is(ferr, zk.ErrBadVersion):
			if t := z.currentTerm(); t != nil {
				z.endTermIf(t, "a newer controller epoch was written")
			}
			return fmt.Errorf("%w: controller epoch %d is stale", ErrNotController, s.ControllerEpoch)
		case errors.Is(ferr, zk.ErrBadVersion), errors.Is(ferr, zk.ErrNoNode), errors.Is(ferr, zk.ErrNodeExists):
			return &VersionConflictError{Path: topicPath, ExpectedVersion: stat.Version}
		}
		return fmt.Errorf("meta: reassignment step of %s-%d: %w", s.Topic, s.Partition, ferr)
	}
	// The caller's next decision reads the assignment from the cache.
	want := slices.Clone(replicas)
	z.awaitCache("reassignment", func() bool {
		e, ok := z.topics[s.Topic]
		return !ok || int(s.Partition) >= len(e.replicas) || slices.Equal(e.replicas[s.Partition], want)
	})
	return nil
}

// commitReassignList writes only the list (after the controller check in
// ops): the step of a partition that no longer exists.
func (z *ZK) commitReassignList(ops []any, s ReassignStep) error {
	ops = append(ops, z.reassignListOp(s)...)
	if len(ops) == 1 {
		return nil
	}
	res, err := z.conn.Multi(ops...)
	if err != nil {
		idx, ferr := firstMultiError(res, err)
		if idx == 0 && errors.Is(ferr, zk.ErrBadVersion) {
			return fmt.Errorf("%w: controller epoch %d is stale", ErrNotController, s.ControllerEpoch)
		}
		if errors.Is(ferr, zk.ErrBadVersion) || errors.Is(ferr, zk.ErrNoNode) || errors.Is(ferr, zk.ErrNodeExists) {
			return &VersionConflictError{Path: z.abs(zkReassignPath), ExpectedVersion: s.ListVersion}
		}
		return fmt.Errorf("meta: write %s: %w", zkReassignPath, ferr)
	}
	return nil
}

// reassignListOp is the operation that leaves the list as s.List.
func (z *ZK) reassignListOp(s ReassignStep) []any {
	listPath := z.abs(zkReassignPath)
	switch {
	case len(s.List) == 0 && s.ListVersion >= 0:
		return []any{&zk.DeleteRequest{Path: listPath, Version: s.ListVersion}}
	case len(s.List) > 0 && s.ListVersion >= 0:
		return []any{&zk.SetDataRequest{Path: listPath, Data: encodeReassignments(s.List), Version: s.ListVersion}}
	case len(s.List) > 0:
		return []any{z.createRequest(listPath, encodeReassignments(s.List), 0)}
	}
	return nil
}

var _ ReassignmentStore = (*ZK)(nil)
