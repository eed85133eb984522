package meta

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// ZooKeeper paths, relative to the optional chroot. They follow Kafka's
// ZooKeeper layout so operators find things where they expect them; see
// docs/zookeeper-layout.md.
const (
	zkClusterIDPath       = "/cluster/id"
	zkBrokerIDsPath       = "/brokers/ids"
	zkTopicsPath          = "/brokers/topics"
	zkControllerPath      = "/controller"
	zkControllerEpochPath = "/controller_epoch"
	zkTopicConfigsPath    = "/config/topics"
	zkDeleteTopicsPath    = "/admin/delete_topics"
)

// zkBasePaths are the persistent parents created (if absent) on open, in
// creation order.
var zkBasePaths = []string{
	"/cluster", "/brokers", zkBrokerIDsPath, zkTopicsPath,
	"/config", zkTopicConfigsPath, "/admin", zkDeleteTopicsPath,
}

func zkBrokerPath(id int32) string         { return zkBrokerIDsPath + "/" + strconv.Itoa(int(id)) }
func zkTopicPath(topic string) string      { return zkTopicsPath + "/" + topic }
func zkPartitionsPath(topic string) string { return zkTopicPath(topic) + "/partitions" }
func zkPartitionPath(topic string, p int32) string {
	return zkPartitionsPath(topic) + "/" + strconv.Itoa(int(p))
}
func zkPartitionStatePath(topic string, p int32) string { return zkPartitionPath(topic, p) + "/state" }
func zkTopicConfigPath(topic string) string             { return zkTopicConfigsPath + "/" + topic }
func zkDeleteTopicPath(topic string) string             { return zkDeleteTopicsPath + "/" + topic }

// zkClusterID is /cluster/id.
type zkClusterID struct {
	Version string `json:"version"`
	ID      string `json:"id"`
}

// zkBrokerInfo is /brokers/ids/<id>, Kafka's version 5 broker registration.
type zkBrokerInfo struct {
	Version     int               `json:"version"`
	Host        string            `json:"host"`
	Port        int32             `json:"port"`
	JMXPort     int               `json:"jmx_port"`
	Timestamp   string            `json:"timestamp"`
	Endpoints   []string          `json:"endpoints"`
	ProtocolMap map[string]string `json:"listener_security_protocol_map"`
	Rack        *string           `json:"rack,omitempty"`
}

func encodeBroker(b Broker) []byte {
	info := zkBrokerInfo{
		Version:     5,
		Host:        b.Host,
		Port:        b.Port,
		JMXPort:     -1,
		Timestamp:   strconv.FormatInt(time.Now().UnixMilli(), 10),
		Endpoints:   []string{fmt.Sprintf("PLAINTEXT://%s", b.Addr())},
		ProtocolMap: map[string]string{"PLAINTEXT": "PLAINTEXT"},
		Rack:        b.Rack,
	}
	return mustJSON(info)
}

func decodeBroker(id int32, data []byte) (Broker, error) {
	var info zkBrokerInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return Broker{}, fmt.Errorf("meta: broker %d registration: %w", id, err)
	}
	return Broker{ID: id, Host: info.Host, Port: info.Port, Rack: info.Rack}, nil
}

// zkController is /controller.
type zkController struct {
	Version   int    `json:"version"`
	BrokerID  int32  `json:"brokerid"`
	Timestamp string `json:"timestamp"`
}

func encodeController(id int32) []byte {
	return mustJSON(zkController{Version: 1, BrokerID: id, Timestamp: strconv.FormatInt(time.Now().UnixMilli(), 10)})
}

// zkTopicAssignment is /brokers/topics/<topic>.
type zkTopicAssignment struct {
	Version    int                `json:"version"`
	TopicID    string             `json:"topic_id"`
	Partitions map[string][]int32 `json:"partitions"`
}

// zkPartitionState is /brokers/topics/<topic>/partitions/<p>/state.
type zkPartitionState struct {
	Version         int     `json:"version"`
	ControllerEpoch int32   `json:"controller_epoch"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	ISR             []int32 `json:"isr"`
}

func encodePartitionState(st PartitionState, controllerEpoch int32) []byte {
	isr := st.ISR
	if isr == nil {
		isr = []int32{} // Kafka tools expect a list, never null
	}
	return mustJSON(zkPartitionState{Version: 1, ControllerEpoch: controllerEpoch, Leader: st.Leader, LeaderEpoch: st.LeaderEpoch, ISR: isr})
}

func decodePartitionState(data []byte) (zkPartitionState, error) {
	var st zkPartitionState
	if err := json.Unmarshal(data, &st); err != nil {
		return zkPartitionState{}, fmt.Errorf("meta: partition state: %w", err)
	}
	return st, nil
}

// zkTopicConfig is /config/topics/<topic>.
type zkTopicConfig struct {
	Version int               `json:"version"`
	Config  map[string]string `json:"config"`
}

func encodeTopicConfig(configs map[string]string) []byte {
	c := zkTopicConfig{Version: 1, Config: configs}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	return mustJSON(c)
}

func decodeTopicConfig(data []byte) (map[string]string, error) {
	var c zkTopicConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("meta: topic config: %w", err)
	}
	if c.Config == nil {
		c.Config = map[string]string{}
	}
	return c.Config, nil
}

// zkDeletion is /admin/delete_topics/<topic>. Kafka's marker is empty; ours
// carries the deleted topic's id so a broker that was down during the
// deletion removes the right logs even if the name was reused since.
//
// Pending lists the brokers that may still hold a copy (every replica of
// every deleted incarnation of the name not yet acknowledged); each
// removes itself once its copies are gone (AckDeletion) and the last one
// deletes the marker, as Kafka's controller deletes its marker once every
// replica answered StopReplica. Markers without the field (written by
// Kafka or by Sluice before it) are only cleared by ClearDeletion.
type zkDeletion struct {
	Version int     `json:"version"`
	TopicID string  `json:"topic_id"`
	Pending []int32 `json:"pending,omitempty"`
}

func encodeAssignment(id [16]byte, parts []PartitionState) []byte {
	a := zkTopicAssignment{Version: 3, TopicID: TopicIDString(id), Partitions: make(map[string][]int32, len(parts))}
	for i, p := range parts {
		a.Partitions[strconv.Itoa(i)] = p.Replicas
	}
	return mustJSON(a)
}

// decodeAssignment returns the topic id and the replica lists indexed by
// partition. Partition numbers must be dense (0..n-1), as Kafka requires.
func decodeAssignment(data []byte) ([16]byte, [][]int32, error) {
	var a zkTopicAssignment
	if err := json.Unmarshal(data, &a); err != nil {
		return [16]byte{}, nil, fmt.Errorf("meta: topic assignment: %w", err)
	}
	id, err := ParseTopicID(a.TopicID)
	if err != nil {
		return id, nil, err
	}
	nums := make([]int, 0, len(a.Partitions))
	for k := range a.Partitions {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 {
			return id, nil, fmt.Errorf("meta: topic assignment: bad partition %q", k)
		}
		nums = append(nums, n)
	}
	sort.Ints(nums)
	replicas := make([][]int32, len(nums))
	for i, n := range nums {
		if n != i {
			return id, nil, fmt.Errorf("meta: topic assignment: partitions not dense, missing %d", i)
		}
		replicas[i] = a.Partitions[strconv.Itoa(n)]
	}
	return id, replicas, nil
}

func encodeInt32(v int32) []byte { return []byte(strconv.Itoa(int(v))) }

func decodeInt32(data []byte) (int32, error) {
	v, err := strconv.ParseInt(string(data), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("meta: bad integer %q: %w", data, err)
	}
	return int32(v), nil
}

// mustJSON marshals values built from plain structs, maps and slices, which
// cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("meta: marshal %T: %v", v, err))
	}
	return b
}
