package console

import (
	"net/http"
	"sort"
	"strings"
	"time"
)

// WhoAmI is GET /console/api/whoami: who the guard let in. The pages call
// it first: 401 means "show the login form".
type WhoAmI struct {
	Principal string `json:"principal"`
	// Auth is how: "basic" (user and password), "bearer" (admin token) or
	// "none" (a loopback listener with no admin credentials configured).
	Auth string `json:"auth"`
	// AdminBase is where the plugin admin API is on this listener.
	AdminBase string `json:"admin_base"`
}

func (c *Console) whoami(w http.ResponseWriter, r *http.Request) {
	out := WhoAmI{Principal: "User:ANONYMOUS", Auth: "none", AdminBase: c.cfg.AdminBase}
	if user, _, ok := r.BasicAuth(); ok {
		out.Principal, out.Auth = "User:"+user, "basic"
	} else if s, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(s, "bearer") {
		out.Principal, out.Auth = "admin token", "bearer"
	}
	writeJSON(w, http.StatusOK, out)
}

// Broker is one broker on the Overview page.
type Broker struct {
	ID         int32  `json:"id"`
	Host       string `json:"host"`
	Port       int32  `json:"port"`
	Rack       string `json:"rack,omitempty"`
	Up         bool   `json:"up"`
	Controller bool   `json:"controller"`
}

// PartitionHealth counts partitions by health.
type PartitionHealth struct {
	Total           int `json:"total"`
	UnderReplicated int `json:"under_replicated"`
	Offline         int `json:"offline"`
}

// Throughput is the cluster's log growth per second over the last few
// samples (every live broker's leader replicas: what producers wrote),
// read over the Kafka protocol (rates.go).
type Throughput struct {
	BytesInPerSec    float64 `json:"bytes_in_per_sec"`
	MessagesInPerSec float64 `json:"messages_in_per_sec"`
	// Known is false until two samples exist.
	Known bool `json:"known"`
	// Window is what the rates are computed from: the growth over the
	// last samples, exact counts (absent until Known).
	Window *Window `json:"window,omitempty"`
	// Brokers is how many brokers' leader replicas the last sample
	// counted, of BrokersLive live ones; fewer when some did not answer
	// (their partitions' growth is then left out).
	Brokers     int `json:"brokers"`
	BrokersLive int `json:"brokers_live"`
	// BytesOutPerSec is this broker's rate of record bytes sent to
	// consumers, when the node gives a bytes-out counter (Config.BytesOut);
	// absent otherwise. The Kafka protocol carries no such counter for the
	// other brokers (docs/console.md).
	BytesOutPerSec *float64 `json:"bytes_out_per_sec,omitempty"`
}

// Window is the log growth the rates are computed from: the samples
// taken at From and To (when each sample started reading the cluster) and
// in between, Seconds apart. A partition a sample could not read (its
// leader did not answer) counts its growth at the next sample that reads
// it, from its last reading: From is then that earlier sample's time, and
// To − From exceeds Seconds. So growth finished before From is never in
// the window, and growth between the end of the first sample's reads and
// To always is once every broker answered the last sample (Brokers equal
// to BrokersLive).
type Window struct {
	Seconds    float64   `json:"seconds"`
	BytesIn    int64     `json:"bytes_in"`
	MessagesIn int64     `json:"messages_in"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
}

// Overview is GET /console/api/overview.
type Overview struct {
	ClusterID  string          `json:"cluster_id"`
	Controller int32           `json:"controller"`
	ThisBroker int32           `json:"this_broker"`
	Brokers    []Broker        `json:"brokers"`
	Topics     int             `json:"topics"`
	Partitions PartitionHealth `json:"partitions"`
	Throughput Throughput      `json:"throughput"`
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	md, err := c.adm.Metadata(ctx)
	if err != nil {
		writeKafkaError(w, "metadata", err)
		return
	}
	out := Overview{ClusterID: md.Cluster, Controller: md.Controller, ThisBroker: c.cfg.BrokerID}
	up := map[int32]bool{}
	for _, b := range md.Brokers {
		up[b.NodeID] = true
		br := Broker{ID: b.NodeID, Host: b.Host, Port: b.Port, Up: true, Controller: b.NodeID == md.Controller}
		if b.Rack != nil {
			br.Rack = *b.Rack
		}
		out.Brokers = append(out.Brokers, br)
	}
	// A broker named in an assignment but not registered is down.
	for _, t := range md.Topics {
		if t.Err != nil {
			continue
		}
		out.Topics++
		for _, p := range t.Partitions {
			out.Partitions.Total++
			if p.Leader < 0 {
				out.Partitions.Offline++
			} else if len(p.ISR) < len(p.Replicas) {
				out.Partitions.UnderReplicated++
			}
			for _, id := range p.Replicas {
				if !up[id] {
					up[id] = false
				}
			}
		}
	}
	for id, u := range up {
		if !u {
			out.Brokers = append(out.Brokers, Broker{ID: id, Up: false})
			up[id] = true // once
		}
	}
	sort.Slice(out.Brokers, func(i, j int) bool { return out.Brokers[i].ID < out.Brokers[j].ID })
	c.rates.touch()
	out.Throughput = c.rates.total()
	out.Throughput.BytesOutPerSec = c.rates.out()
	writeJSON(w, http.StatusOK, out)
}

// localReplicas lists this broker's replica sizes per topic and partition.
func (c *Console) localReplicas() map[replicaKey]Replica {
	out := map[replicaKey]Replica{}
	if c.cfg.Logs == nil {
		return out
	}
	for _, r := range c.cfg.Logs.Replicas() {
		out[replicaKey{r.Topic, r.Partition}] = r
	}
	return out
}
