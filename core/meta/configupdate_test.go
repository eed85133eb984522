package meta

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
)

// conformConfigUpdates: UpdateTopicConfigs is a read-modify-write under
// the store. Concurrent edits of different keys all land, an edit's error
// writes nothing, and an absent topic is ErrUnknownTopic.
func conformConfigUpdates(t *testing.T, s Store) {
	if _, err := s.CreateTopic(Topic{Name: "upd", Partitions: []PartitionState{leader1(0)}, Configs: map[string]string{"keep": "1"}}); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateTopicConfigs("upd", func(cur map[string]string) (map[string]string, error) {
				cur[fmt.Sprintf("k%d", i)] = fmt.Sprint(i)
				return cur, nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("UpdateTopicConfigs: %v", err)
		}
	}
	want := map[string]string{"keep": "1"}
	for i := range n {
		want[fmt.Sprintf("k%d", i)] = fmt.Sprint(i)
	}
	got, _ := s.Topic("upd")
	if !maps.Equal(got.Configs, want) {
		t.Fatalf("after %d concurrent updates: %v, want %v", n, got.Configs, want)
	}

	boom := errors.New("refused")
	got = announced(t, s, "delete a key", func() (Topic, error) {
		return s.UpdateTopicConfigs("upd", func(cur map[string]string) (map[string]string, error) {
			delete(cur, "keep")
			return cur, nil
		})
	})
	delete(want, "keep")
	if !maps.Equal(got.Configs, want) {
		t.Fatalf("after delete: %v, want %v", got.Configs, want)
	}
	if _, err := s.UpdateTopicConfigs("upd", func(cur map[string]string) (map[string]string, error) {
		return map[string]string{}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing edit: %v, want its error", err)
	}
	if got, _ := s.Topic("upd"); !maps.Equal(got.Configs, want) {
		t.Fatalf("a failing edit changed the configs: %v", got.Configs)
	}
	if _, err := s.UpdateTopicConfigs("absent", func(cur map[string]string) (map[string]string, error) { return cur, nil }); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("UpdateTopicConfigs(absent): %v, want ErrUnknownTopic", err)
	}
	if _, ok := s.Topic("absent"); ok {
		t.Fatal("UpdateTopicConfigs(absent) created the topic")
	}

	// Broker configs likewise.
	bs, ok := s.(BrokerConfigStore)
	if !ok {
		t.Fatal("not a BrokerConfigStore")
	}
	var bwg sync.WaitGroup
	berrs := make(chan error, n)
	for i := range n {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			berrs <- bs.UpdateBrokerConfigs(DefaultBrokerEntity, func(cur map[string]string) (map[string]string, error) {
				cur[fmt.Sprintf("b%d", i)] = fmt.Sprint(i)
				return cur, nil
			})
		}()
	}
	bwg.Wait()
	close(berrs)
	for err := range berrs {
		if err != nil {
			t.Fatalf("UpdateBrokerConfigs: %v", err)
		}
	}
	bgot, err := bs.BrokerConfigs(DefaultBrokerEntity)
	if err != nil || len(bgot) != n {
		t.Fatalf("default broker configs after %d concurrent updates: %v (%v)", n, bgot, err)
	}
}

// TestZKConfigUpdatesAcrossBrokers: alters of different keys of one topic
// made at once through three brokers' stores, each answering from its own
// cache, all land (the write is conditional on the config znode's
// version), and every store ends with the same configs.
func TestZKConfigUpdatesAcrossBrokers(t *testing.T) {
	connect := testConnect(t)
	stores := []*ZK{
		openTestZK(t, connect, 1, ZKOptions{}),
		openTestZK(t, connect, 2, ZKOptions{}),
		openTestZK(t, connect, 3, ZKOptions{}),
	}
	// Two topics: one created with configs (the node exists) and one
	// without, where the first writers race to create the node.
	for _, tc := range []struct {
		name    string
		initial map[string]string
	}{{"withcfg", map[string]string{"base": "x"}}, {"nocfg", nil}} {
		if _, err := stores[0].CreateTopic(Topic{Name: tc.name, Partitions: []PartitionState{leader1(0)}, Configs: tc.initial}); err != nil {
			t.Fatal(err)
		}
		for _, z := range stores {
			waitUntil(t, z, "topic visible", func() bool { _, ok := z.Topic(tc.name); return ok })
		}
		const perStore = 6
		var wg sync.WaitGroup
		errs := make(chan error, perStore*len(stores))
		start := make(chan struct{})
		for si, z := range stores {
			for k := range perStore {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := z.UpdateTopicConfigs(tc.name, func(cur map[string]string) (map[string]string, error) {
						cur[fmt.Sprintf("s%d.k%d", si, k)] = fmt.Sprint(si*100 + k)
						return cur, nil
					})
					errs <- err
				}()
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: UpdateTopicConfigs: %v", tc.name, err)
			}
		}
		want := maps.Clone(tc.initial)
		if want == nil {
			want = map[string]string{}
		}
		for si := range stores {
			for k := range perStore {
				want[fmt.Sprintf("s%d.k%d", si, k)] = fmt.Sprint(si*100 + k)
			}
		}
		for i, z := range stores {
			waitUntil(t, z, "configs converge", func() bool {
				got, _ := z.Topic(tc.name)
				return maps.Equal(got.Configs, want)
			})
			if got, _ := z.Topic(tc.name); len(got.Configs) != len(want) {
				t.Fatalf("%s: broker %d sees %d configs, want %d", tc.name, i+1, len(got.Configs), len(want))
			}
		}
	}
}
