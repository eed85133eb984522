package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/twmb/franz-go/pkg/kadm"
)

// throttledReplicasConfig is the topic config `--throttle` sets: the
// replicas a move adds fetch at the brokers'
// --follower-replication-throttled-rate.
const throttledReplicasConfig = "follower.replication.throttled.replicas"

// reassignPlanFile is a plan in Kafka's reassignment JSON
// (kafka-reassign-partitions.sh --reassignment-json-file).
type reassignPlanFile struct {
	Version    int                     `json:"version"`
	Partitions []reassignPlanPartition `json:"partitions"`
}

type reassignPlanPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

// topicReassignCommand is `sluice topic reassign`: generate a plan that
// spreads a topic's partitions over brokers, execute it (or a plan file),
// follow its progress, cancel it.
func (c *cli) topicReassignCommand() *ffcli.Command {
	var (
		brokers     string
		rf          int
		execute     bool
		planFile    string
		status      bool
		cancelMoves bool
		throttle    bool
		rate        int64
		ignoreRacks bool
	)
	return c.adminCommand(adminSpec{
		path: "topic reassign",
		usage: "sluice topic reassign NAME --broker-ids 1,2,3 [--replicas R] [--execute [--throttle] [--throttle-rate BYTES]]\n" +
			"  sluice topic reassign NAME --plan FILE --execute [--throttle] [--throttle-rate BYTES]\n" +
			"  sluice topic reassign NAME --status | --cancel",
		help: "Move a topic's partitions to other brokers: print a plan, execute it, show progress, cancel.",
		args: []string{"NAME"},
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&brokers, "broker-ids", "", "broker `IDS` (comma-separated) to spread the partitions over (rack-aware when they have racks)")
			fs.IntVar(&rf, "replicas", 0, "replication factor of the plan; 0 keeps the topic's")
			fs.BoolVar(&execute, "execute", false, "start the reassignment (without it the plan is only printed)")
			fs.StringVar(&planFile, "plan", "", "execute this plan `FILE` (Kafka's reassignment JSON) instead of generating one")
			fs.BoolVar(&status, "status", false, "show the topic's reassignments in progress and how far the added replicas are; removes the throttle once none is left")
			fs.BoolVar(&cancelMoves, "cancel", false, "cancel the topic's reassignments in progress (back to the original replicas)")
			fs.BoolVar(&throttle, "throttle", false, "with --execute: throttle the added replicas' catch-up to the brokers' --follower-replication-throttled-rate (topic config "+throttledReplicasConfig+")")
			fs.Int64Var(&rate, "throttle-rate", 0, "with --execute: also set the brokers' dynamic leader/follower.replication.throttled.rate to `BYTES`/s (Kafka's --throttle); implies --throttle, --status removes the rates once nothing moves")
			fs.BoolVar(&ignoreRacks, "ignore-racks", false, "plan without rack awareness (needed when only some brokers have racks)")
		},
		run: func(ctx context.Context, adm *kadm.Client, args []string) error {
			name := args[0]
			switch {
			case status:
				return c.reassignStatus(ctx, adm, name)
			case cancelMoves:
				return c.reassignCancel(ctx, adm, name)
			}
			current, err := topicReplicas(ctx, adm, name)
			if err != nil {
				return err
			}
			var plan [][]int32
			if planFile != "" {
				if plan, err = readPlanFile(planFile, name, len(current)); err != nil {
					return err
				}
			} else {
				if brokers == "" {
					return errors.New("--broker-ids, --plan, --status or --cancel is required")
				}
				ids, err := parseBrokerIDs(brokers)
				if err != nil {
					return err
				}
				md, err := adm.BrokerMetadata(ctx)
				if err != nil {
					return fmt.Errorf("broker metadata: %w", err)
				}
				var cands []planBroker
				for _, id := range ids {
					i := slices.IndexFunc(md.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == id })
					if i < 0 {
						return fmt.Errorf("broker %d is not alive", id)
					}
					b := planBroker{ID: id}
					if r := md.Brokers[i].Rack; r != nil && !ignoreRacks {
						b.Rack = *r
					}
					cands = append(cands, b)
				}
				n := rf
				if n == 0 {
					n = len(current[0])
				}
				if plan, err = generatePlan(len(current), n, cands); err != nil {
					return err
				}
			}
			c.printPlan(name, current, plan)
			if !execute {
				fmt.Fprintln(c.stdout, "\nNothing changed: add --execute to start this reassignment.")
				return nil
			}
			if rate < 0 {
				return errors.New("--throttle-rate must not be negative")
			}
			var leaderCfg *kadm.AlterConfig
			if rate > 0 {
				if leaderCfg, err = c.setThrottleRates(ctx, adm, current, plan, rate); err != nil {
					return err
				}
				throttle = true
			}
			return c.reassignExecute(ctx, adm, name, current, plan, throttle, leaderCfg)
		},
	})
}

// topicReplicas reads each partition's replica set, by partition.
func topicReplicas(ctx context.Context, adm *kadm.Client, name string) ([][]int32, error) {
	topics, err := adm.ListTopicsWithInternal(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("topic metadata: %w", err)
	}
	d, ok := topics[name]
	if !ok || d.Err != nil {
		return nil, fmt.Errorf("topic %q: %w", name, cmp.Or(d.Err, errors.New("unknown topic")))
	}
	out := make([][]int32, len(d.Partitions))
	for p, pd := range d.Partitions {
		if p < 0 || int(p) >= len(out) {
			return nil, fmt.Errorf("topic %q: partition %d out of range", name, p)
		}
		out[p] = pd.Replicas
	}
	return out, nil
}

func parseBrokerIDs(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("--broker-ids: %q is not a broker id", f)
		}
		if slices.Contains(ids, int32(v)) {
			return nil, fmt.Errorf("--broker-ids: broker %d twice", v)
		}
		ids = append(ids, int32(v))
	}
	return ids, nil
}

// planBroker is a broker a plan may use; Rack "" means none.
type planBroker struct {
	ID   int32
	Rack string
}

// generatePlan spreads partitions replicas over brokers the way Kafka's
// assignment does (AdminUtils): brokers sorted by id and, when they have
// racks, interleaved rack by rack; partition p's leader is the (p mod
// n)-th broker, so leadership is even, and its followers are the next
// brokers, shifted by one more for every n partitions so the same leader
// gets different followers. With racks, a partition's replicas are on as
// many racks as possible: a broker on a rack that already holds one of its
// replicas is skipped until every rack holds one. Either every broker has
// a rack or none (Kafka refuses a mix without --disable-rack-aware).
func generatePlan(partitions, replicas int, brokers []planBroker) ([][]int32, error) {
	n := len(brokers)
	switch {
	case n == 0:
		return nil, errors.New("no brokers to place replicas on")
	case replicas <= 0 || replicas > n:
		return nil, fmt.Errorf("replication factor %d needs between 1 and %d brokers", replicas, n)
	case partitions <= 0:
		return nil, errors.New("the topic has no partitions")
	}
	withRack := 0
	for _, b := range brokers {
		if b.Rack != "" {
			withRack++
		}
	}
	if withRack != 0 && withRack != n {
		return nil, fmt.Errorf("%d of %d brokers have a rack: give every broker one or plan with --ignore-racks", withRack, n)
	}
	arranged := slices.Clone(brokers)
	slices.SortFunc(arranged, func(a, b planBroker) int { return cmp.Compare(a.ID, b.ID) })
	racks := 1
	if withRack > 0 {
		arranged, racks = interleaveRacks(arranged)
	}
	plan := make([][]int32, partitions)
	for p := range partitions {
		first := p % n
		shift := p / n
		chosen := []planBroker{arranged[first]}
		usedRacks := map[string]bool{arranged[first].Rack: true}
		for len(chosen) < replicas {
			// First a broker on a rack that lacks a replica; if every
			// such broker is taken, any free one.
			b, ok := nextBroker(arranged, chosen, first, shift, func(b planBroker) bool {
				return len(usedRacks) == racks || !usedRacks[b.Rack]
			})
			if !ok {
				b, _ = nextBroker(arranged, chosen, first, shift, func(planBroker) bool { return true })
			}
			chosen = append(chosen, b)
			usedRacks[b.Rack] = true
			if len(usedRacks) == racks {
				// Every rack has one: spread the rest over racks again.
				usedRacks = map[string]bool{}
			}
		}
		for _, b := range chosen {
			plan[p] = append(plan[p], b.ID)
		}
	}
	return plan, nil
}

// nextBroker is the first broker after the leader's position (shifted by
// shift) that is not chosen yet and passes ok.
func nextBroker(arranged, chosen []planBroker, first, shift int, ok func(planBroker) bool) (planBroker, bool) {
	n := len(arranged)
	for k := range n - 1 {
		b := arranged[(first+1+(shift+k)%(n-1))%n]
		if !slices.Contains(chosen, b) && ok(b) {
			return b, true
		}
	}
	return planBroker{}, false
}

// interleaveRacks orders brokers (sorted by id) rack by rack: the first
// broker of each rack (racks in name order), then the second of each, …
func interleaveRacks(sorted []planBroker) ([]planBroker, int) {
	byRack := map[string][]planBroker{}
	var names []string
	for _, b := range sorted {
		if _, ok := byRack[b.Rack]; !ok {
			names = append(names, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	slices.Sort(names)
	out := make([]planBroker, 0, len(sorted))
	for i := 0; len(out) < len(sorted); i++ {
		for _, r := range names {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out, len(names)
}

func readPlanFile(path, topic string, partitions int) ([][]int32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f reassignPlanFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	plan := make([][]int32, partitions)
	for _, p := range f.Partitions {
		if p.Topic != topic {
			return nil, fmt.Errorf("plan %s: partition of topic %q, not %q", path, p.Topic, topic)
		}
		if p.Partition < 0 || int(p.Partition) >= partitions {
			return nil, fmt.Errorf("plan %s: topic %q has no partition %d", path, topic, p.Partition)
		}
		plan[p.Partition] = p.Replicas
	}
	return plan, nil
}

// printPlan shows current → proposed and the plan as Kafka's JSON (to keep
// for --plan, or to roll back with the current one).
func (c *cli) printPlan(name string, current, plan [][]int32) {
	tb := newTable(c.stdout, "PARTITION", "CURRENT", "PROPOSED")
	var file, back reassignPlanFile
	file.Version, back.Version = 1, 1
	for p, target := range plan {
		if target == nil {
			continue
		}
		tb.row(strconv.Itoa(p), formatIDs(current[p]), formatIDs(target))
		file.Partitions = append(file.Partitions, reassignPlanPartition{Topic: name, Partition: int32(p), Replicas: target})
		back.Partitions = append(back.Partitions, reassignPlanPartition{Topic: name, Partition: int32(p), Replicas: current[p]})
	}
	_ = tb.flush()
	fj, _ := json.Marshal(file)
	bj, _ := json.Marshal(back)
	fmt.Fprintf(c.stdout, "\nProposed plan (for --plan):\n%s\nCurrent assignment (to roll back):\n%s\n", fj, bj)
}

func formatIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// reassignExecute starts the moves; with throttle it first names the added
// replicas in follower.replication.throttled.replicas, written in one
// request with leaderCfg (--throttle-rate's leader side) when set.
func (c *cli) reassignExecute(ctx context.Context, adm *kadm.Client, name string, current, plan [][]int32, throttle bool, leaderCfg *kadm.AlterConfig) error {
	if throttle {
		var entries []string
		for p, target := range plan {
			for _, id := range target {
				if target != nil && !slices.Contains(current[p], id) {
					entries = append(entries, fmt.Sprintf("%d:%d", p, id))
				}
			}
		}
		var cfgs []kadm.AlterConfig
		if len(entries) > 0 {
			cfgs = append(cfgs, kadm.AlterConfig{Name: throttledReplicasConfig, Value: kadm.StringPtr(strings.Join(entries, ","))})
		}
		if leaderCfg != nil {
			cfgs = append(cfgs, *leaderCfg)
		}
		if len(cfgs) > 0 {
			resp, err := adm.AlterTopicConfigs(ctx, cfgs, name)
			if err == nil {
				var r kadm.AlterConfigsResponse
				r, err = resp.On(name, nil)
				if err == nil && r.Err != nil {
					err = kafkaErr(r.Err, r.ErrMessage)
				}
			}
			if err != nil {
				return fmt.Errorf("set the throttled replicas: %w", err)
			}
			if len(entries) > 0 {
				fmt.Fprintf(c.stdout, "Throttled the added replicas (%s=%s).\n", throttledReplicasConfig, strings.Join(entries, ","))
			}
			if leaderCfg != nil {
				fmt.Fprintf(c.stdout, "Throttled the current replicas as leaders (%s=%s).\n", leaderThrottledReplicasConfig, *leaderCfg.Value)
			}
		}
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	for p, target := range plan {
		if target != nil {
			req.Assign(name, int32(p), target)
		}
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("reassign %q: %w", name, err)
	}
	failed := 0
	for _, r := range resp.Sorted() {
		if r.Err != nil {
			failed++
			fmt.Fprintf(c.stderr, "partition %d: %v\n", r.Partition, kafkaErr(r.Err, r.ErrMessage))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d partitions were not reassigned", failed, len(resp.Sorted()))
	}
	fmt.Fprintf(c.stdout, "Started reassigning %d partition(s) of %q; follow with --status.\n", len(resp.Sorted()), name)
	return nil
}

func (c *cli) reassignStatus(ctx context.Context, adm *kadm.Client, name string) error {
	list, err := adm.ListPartitionReassignments(ctx, allPartitions(ctx, adm, name))
	if err != nil {
		return fmt.Errorf("list reassignments: %w", err)
	}
	moving := list[name]
	if len(moving) == 0 {
		fmt.Fprintf(c.stdout, "No reassignment of %q in progress.\n", name)
		return c.removeThrottle(ctx, adm, name)
	}
	// Progress: each added replica's log size against the leader's.
	topics, err := adm.ListTopics(ctx, name)
	if err != nil {
		return fmt.Errorf("topic metadata: %w", err)
	}
	dirs, _ := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{name: nil}) // progress is best effort
	size := func(broker, p int32) (int64, bool) {
		var n int64
		found := false
		dirs[broker].Each(func(d kadm.DescribedLogDir) {
			if dp, ok := d.Topics.Lookup(name, p); ok {
				n, found = n+dp.Size, true
			}
		})
		return n, found
	}
	tb := newTable(c.stdout, "PARTITION", "REPLICAS", "ADDING", "REMOVING", "LEADER", "PROGRESS")
	for _, r := range list.Sorted() {
		leader := topics[name].Partitions[r.Partition].Leader
		var progress []string
		lsize, lok := size(leader, r.Partition)
		for _, id := range r.AddingReplicas {
			s, ok := size(id, r.Partition)
			switch {
			case !ok:
				progress = append(progress, fmt.Sprintf("%d: not started", id))
			case lok && lsize > 0:
				progress = append(progress, fmt.Sprintf("%d: %d/%d bytes (%.0f%%)", id, s, lsize, 100*float64(s)/float64(lsize)))
			default:
				progress = append(progress, fmt.Sprintf("%d: %d bytes", id, s))
			}
		}
		tb.row(strconv.Itoa(int(r.Partition)), formatIDs(r.Replicas), formatIDs(r.AddingReplicas), formatIDs(r.RemovingReplicas),
			strconv.Itoa(int(leader)), strings.Join(progress, "; "))
	}
	return tb.flush()
}

// allPartitions is the topic's partitions as a set (kadm lists nothing for
// an empty one).
func allPartitions(ctx context.Context, adm *kadm.Client, name string) kadm.TopicsSet {
	s := kadm.TopicsSet{name: {}}
	if topics, err := adm.ListTopicsWithInternal(ctx, name); err == nil {
		for p := range topics[name].Partitions {
			s[name][p] = struct{}{}
		}
	}
	return s
}

// removeThrottle clears the throttle --throttle set once nothing moves,
// as Kafka's --verify does.
func (c *cli) removeThrottle(ctx context.Context, adm *kadm.Client, name string) error {
	rc, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil // the answer above stands; the throttle stays
	}
	r, err := rc.On(name, nil)
	if err != nil {
		return nil
	}
	// One request for both configs: two, on different brokers, may race.
	var del []kadm.AlterConfig
	for _, cfg := range r.Configs {
		if (cfg.Key == throttledReplicasConfig || cfg.Key == leaderThrottledReplicasConfig) && cfg.Value != nil && *cfg.Value != "" && cfg.Source == 1 {
			del = append(del, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: cfg.Key})
		}
	}
	if len(del) > 0 {
		resp, err := adm.AlterTopicConfigs(ctx, del, name)
		if err == nil {
			var r kadm.AlterConfigsResponse
			if r, err = resp.On(name, nil); err == nil && r.Err != nil {
				err = kafkaErr(r.Err, r.ErrMessage)
			}
		}
		if err != nil {
			return fmt.Errorf("remove the throttled replicas: %w", err)
		}
		for _, d := range del {
			fmt.Fprintf(c.stdout, "Removed the replication throttle (%s).\n", d.Name)
		}
	}
	return c.removeThrottleRates(ctx, adm)
}

func (c *cli) reassignCancel(ctx context.Context, adm *kadm.Client, name string) error {
	list, err := adm.ListPartitionReassignments(ctx, allPartitions(ctx, adm, name))
	if err != nil {
		return fmt.Errorf("list reassignments: %w", err)
	}
	if len(list[name]) == 0 {
		fmt.Fprintf(c.stdout, "No reassignment of %q in progress.\n", name)
		return nil
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	for p := range list[name] {
		req.CancelAssign(name, p)
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	if err := resp.Error(); err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	fmt.Fprintf(c.stdout, "Cancelled %d reassignment(s) of %q: the partitions go back to their original replicas.\n", len(list[name]), name)
	return nil
}
