package console

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/auth"
)

// GroupSummary is one row of GET /console/api/groups.
type GroupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Protocol     string `json:"protocol"`
	Members      int    `json:"members"`
	Coordinator  int32  `json:"coordinator"`
	// Lag is the sum of the partitions' lag (-1: unknown).
	Lag   int64  `json:"lag"`
	Error string `json:"error,omitempty"`
}

// GroupList is GET /console/api/groups.
type GroupList struct {
	Groups []GroupSummary `json:"groups"`
}

func (c *Console) listGroups(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	listed, err := c.adm.ListGroups(ctx)
	if err != nil {
		writeKafkaError(w, "list groups", err)
		return
	}
	// As Kafka's ListGroups: groups the caller may not Describe are left out.
	for g := range listed {
		if c.authorize != nil && !c.authorize(r, auth.OpDescribe, auth.ResGroup, g) {
			delete(listed, g)
		}
	}
	out := GroupList{Groups: []GroupSummary{}}
	names := listed.Groups()
	if len(names) == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	lags, err := c.adm.Lag(ctx, names...)
	if err != nil {
		writeKafkaError(w, "describe groups", err)
		return
	}
	for _, lg := range listed.Sorted() {
		s := GroupSummary{Group: lg.Group, State: lg.State, ProtocolType: lg.ProtocolType, Coordinator: lg.Coordinator, Lag: -1}
		if l, ok := lags[lg.Group]; ok {
			if err := l.Error(); err != nil {
				s.Error = err.Error()
			} else {
				s.State, s.Protocol, s.Members, s.Lag = l.State, l.Protocol, len(l.Members), l.Lag.Total()
			}
		}
		out.Groups = append(out.Groups, s)
	}
	writeJSON(w, http.StatusOK, out)
}

// Assignment is what a member consumes of one topic.
type Assignment struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// Member is one group member.
type Member struct {
	MemberID    string       `json:"member_id"`
	InstanceID  string       `json:"instance_id,omitempty"`
	ClientID    string       `json:"client_id"`
	ClientHost  string       `json:"client_host"`
	Assignments []Assignment `json:"assignments"`
}

// PartitionLag is a group's position on one partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is -1 when the group has no commit there.
	Committed int64  `json:"committed"`
	LogEnd    int64  `json:"log_end"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

// GroupDetail is GET /console/api/groups/{group}.
type GroupDetail struct {
	Group        string         `json:"group"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"`
	Coordinator  int32          `json:"coordinator"`
	Members      []Member       `json:"members"`
	Offsets      []PartitionLag `json:"offsets"`
	Lag          int64          `json:"lag"`
}

func (c *Console) describeGroup(w http.ResponseWriter, r *http.Request) {
	group := chi.URLParam(r, "group")
	if !c.may(w, r, auth.OpDescribe, auth.ResGroup, group) {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	lags, err := c.adm.Lag(ctx, group)
	if err != nil {
		writeKafkaError(w, "describe group "+group, err)
		return
	}
	l, ok := lags[group]
	if !ok {
		writeKafkaError(w, "group "+group, kerr.GroupIDNotFound)
		return
	}
	if err := l.Error(); err != nil {
		writeKafkaError(w, "describe group "+group, err)
		return
	}
	if l.State == "Dead" && len(l.Lag) == 0 {
		writeError(w, http.StatusNotFound, "group "+group+" does not exist (no members and no committed offsets)")
		return
	}
	out := GroupDetail{Group: group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []Member{}, Offsets: []PartitionLag{}, Lag: l.Lag.Total()}
	for _, m := range l.Members {
		mm := Member{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assignments: []Assignment{}}
		if m.InstanceID != nil {
			mm.InstanceID = *m.InstanceID
		}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				ps := append([]int32{}, t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				mm.Assignments = append(mm.Assignments, Assignment{Topic: t.Topic, Partitions: ps})
			}
			sort.Slice(mm.Assignments, func(i, j int) bool { return mm.Assignments[i].Topic < mm.Assignments[j].Topic })
		}
		out.Members = append(out.Members, mm)
	}
	for _, gl := range l.Lag.Sorted() {
		pl := PartitionLag{Topic: gl.Topic, Partition: gl.Partition, Committed: gl.Commit.At, LogEnd: gl.End.Offset, Lag: gl.Lag}
		if gl.Member != nil {
			pl.MemberID = gl.Member.MemberID
		}
		if gl.Err != nil {
			pl.Error = gl.Err.Error()
		}
		out.Offsets = append(out.Offsets, pl)
	}
	writeJSON(w, http.StatusOK, out)
}

// ResetRequest is the body of POST /console/api/groups/{group}/reset.
type ResetRequest struct {
	// To is "earliest", "latest" or "timestamp".
	To string `json:"to"`
	// Timestamp (milliseconds) for To "timestamp": each partition's first
	// offset at or after it (the end if there is none).
	Timestamp int64 `json:"timestamp"`
	// Topics to reset; default: every topic the group has commits on.
	Topics []string `json:"topics"`
}

// ResetResult lists the offsets committed.
type ResetResult struct {
	Group   string         `json:"group"`
	Offsets []PartitionLag `json:"offsets"`
}

// resetOffsets commits new offsets for an empty group, as
// kafka-consumer-groups.sh --reset-offsets does: a group with members
// would overwrite them, so it is refused.
func (c *Console) resetOffsets(w http.ResponseWriter, r *http.Request) {
	group := chi.URLParam(r, "group")
	// Kafka's OffsetCommit: Read on the group, then on every topic.
	if !c.may(w, r, auth.OpRead, auth.ResGroup, group) {
		return
	}
	var req ResetRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.To != "earliest" && req.To != "latest" && req.To != "timestamp" {
		writeError(w, http.StatusBadRequest, `to: want "earliest", "latest" or "timestamp"`)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	dg, err := c.adm.DescribeGroups(ctx, group)
	if err != nil {
		writeKafkaError(w, "describe group "+group, err)
		return
	}
	if d, ok := dg[group]; ok {
		if d.Err != nil {
			writeKafkaError(w, "describe group "+group, d.Err)
			return
		}
		if d.State != "Empty" && d.State != "Dead" {
			writeError(w, http.StatusConflict, fmt.Sprintf("group %s is %s with %d member(s): stop its consumers first; offsets can be reset only for an empty group", group, d.State, len(d.Members)))
			return
		}
	}
	topics := req.Topics
	if len(topics) == 0 {
		committed, err := c.adm.FetchOffsets(ctx, group)
		if err == nil {
			err = committed.Error()
		}
		if err != nil {
			writeKafkaError(w, "fetch offsets of "+group, err)
			return
		}
		seen := map[string]bool{}
		committed.Each(func(o kadm.OffsetResponse) {
			if !seen[o.Topic] {
				seen[o.Topic] = true
				topics = append(topics, o.Topic)
			}
		})
		sort.Strings(topics)
	}
	if len(topics) == 0 {
		writeError(w, http.StatusBadRequest, "group "+group+" has no committed offsets; name the topics to reset")
		return
	}
	for _, t := range topics {
		if !c.may(w, r, auth.OpRead, auth.ResTopic, t) {
			return
		}
	}
	var listed kadm.ListedOffsets
	switch req.To {
	case "earliest":
		listed, err = c.adm.ListStartOffsets(ctx, topics...)
	case "latest":
		listed, err = c.adm.ListEndOffsets(ctx, topics...)
	default:
		listed, err = c.adm.ListOffsetsAfterMilli(ctx, req.Timestamp, topics...)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		writeKafkaError(w, "list offsets", err)
		return
	}
	var ends kadm.ListedOffsets
	if req.To == "timestamp" {
		if ends, err = c.adm.ListEndOffsets(ctx, topics...); err != nil {
			writeKafkaError(w, "list offsets", err)
			return
		}
	}
	offsets := kadm.Offsets{}
	listed.Each(func(o kadm.ListedOffset) {
		at := o.Offset
		if at < 0 { // no record at or after the time: the end
			if e, ok := ends.Lookup(o.Topic, o.Partition); ok {
				at = e.Offset
			}
		}
		offsets.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: at, LeaderEpoch: -1})
	})
	resps, err := c.adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		writeKafkaError(w, "commit offsets of "+group, err)
		return
	}
	out := ResetResult{Group: group, Offsets: []PartitionLag{}}
	for _, o := range offsets.Sorted() {
		out.Offsets = append(out.Offsets, PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: o.At})
	}
	c.log.Info("console: group offsets reset", "principal", principalOf(r), "group", group, "to", req.To, "topics", topics)
	writeJSON(w, http.StatusOK, out)
}
