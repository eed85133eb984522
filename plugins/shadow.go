package plugins

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
)

// Rollback defaults (Deployment.RollbackErrorRate, RollbackWindow).
const (
	DefaultRollbackErrorRate = 0.5
	DefaultRollbackWindow    = 20
	MaxRollbackWindow        = 10_000
	MaxShadowEvery           = 1_000_000
)

// shadowSuffix turns a plugin name into its module's name for a shadow
// version (logs and the wasm metrics) and into its deployments-topic key.
// Plugin names cannot contain '@', so neither collides with a plugin.
const shadowSuffix = "@shadow"

// ErrNoPrevious: a rollback was asked for a plugin without a previous
// version.
var ErrNoPrevious = fmt.Errorf("%w: no previous version to roll back to", ErrNotFound)

// shadowVersion is a version running beside the live one.
type shadowVersion struct {
	dep   Deployment
	mod   *wasm.Module
	stats *shadowStats
	seen  atomic.Uint64 // live calls, for ShadowEvery
}

// runs reports whether the shadow runs on this call (one in ShadowEvery).
func (sh *shadowVersion) runs() bool {
	return sh != nil && (sh.dep.ShadowEvery <= 1 || sh.seen.Add(1)%uint64(sh.dep.ShadowEvery) == 1)
}

// CallStats are a version's calls on this broker since it was loaded.
type CallStats struct {
	Calls       uint64  `json:"calls"`
	Records     uint64  `json:"records"`
	Errors      uint64  `json:"errors"`
	NsPerRecord float64 `json:"ns_per_record"`
}

// liveStats counts a live version's calls and keeps the outcome of its
// last calls for the automatic rollback.
type liveStats struct {
	name                          string
	version                       int
	calls, records, errors, nanos atomic.Uint64
	rate                          float64 // <= 0: never roll back
	mu                            sync.Mutex
	window                        []bool // ring of the last calls: true = failed
	pos, filled, failed           int    // guarded by mu
	tripped                       atomic.Bool
	nsHist                        prometheus.Observer
}

func newLiveStats(dep Deployment) *liveStats {
	rate, window := dep.RollbackErrorRate, dep.RollbackWindow
	if rate == 0 {
		rate = DefaultRollbackErrorRate
	}
	if window <= 0 {
		window = DefaultRollbackWindow
	}
	return &liveStats{name: dep.Name, version: dep.Version, rate: rate, window: make([]bool, window),
		nsHist: metrics().nsPerRecord.WithLabelValues(dep.Name, "live")}
}

func (s *liveStats) snapshot() CallStats {
	return snapshot(&s.calls, &s.records, &s.errors, &s.nanos)
}

func snapshot(calls, records, errs, nanos *atomic.Uint64) CallStats {
	cs := CallStats{Calls: calls.Load(), Records: records.Load(), Errors: errs.Load()}
	if cs.Records > 0 {
		cs.NsPerRecord = float64(nanos.Load()) / float64(cs.Records)
	}
	return cs
}

// record counts one call; it reports whether the call made the error
// rate pass the threshold (once per version).
func (s *liveStats) record(records int, took time.Duration, failed bool) bool {
	s.calls.Add(1)
	s.records.Add(uint64(records))
	s.nanos.Add(uint64(took.Nanoseconds()))
	if records > 0 {
		s.nsHist.Observe(float64(took.Nanoseconds()) / float64(records))
	}
	if failed {
		s.errors.Add(1)
	}
	if s.rate <= 0 || s.tripped.Load() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.window[s.pos] {
		s.failed--
	}
	s.window[s.pos] = failed
	if failed {
		s.failed++
	}
	s.pos = (s.pos + 1) % len(s.window)
	s.filled = min(s.filled+1, len(s.window))
	if s.filled == len(s.window) && float64(s.failed) > s.rate*float64(len(s.window)) {
		return s.tripped.CompareAndSwap(false, true)
	}
	return false
}

func (s *liveStats) forget() {
	metrics().nsPerRecord.DeletePartialMatch(prometheus.Labels{"plugin": s.name, "role": "live"})
	metrics().rollbacks.DeletePartialMatch(prometheus.Labels{"plugin": s.name})
}

// failed reports whether err is a plugin failure (not a deliberate
// refusal of the batch, which is the plugin working).
func failed(err error) bool { return err != nil && errors.Is(err, hooks.ErrPluginFailed) }

// observe counts a live call and starts a rollback when the version's
// error rate passed its threshold.
func (r *Registry) observe(s *liveStats, records int, took time.Duration, err error) {
	if s.record(records, took, failed(err)) {
		go r.autoRollback(s.name, s.version)
	}
}

// autoRollback restores the previous version of name in place of
// version (cluster-wide when syncing).
func (r *Registry) autoRollback(name string, version int) {
	r.logger.Warn("plugin error rate over its threshold: rolling back", "plugin", name, "version", version)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dep, err := r.RollbackClusterWide(ctx, name, version)
	if err != nil {
		r.logger.Error("plugin rollback failed", "plugin", name, "version", version, "err", err)
		return
	}
	r.logger.Info("plugin rollback published", "plugin", name, "failed_version", version, "version", dep.Version)
}

// shadowStats counts a shadow version's calls and how they compared.
type shadowStats struct {
	name                                   string
	calls, records, errors, nanos          atomic.Uint64
	compared, divCalls, divRecords, slower atomic.Uint64
	liveNanos                              atomic.Uint64
	m                                      shadowSeries
}

type shadowSeries struct {
	calls, records, errors, divCalls, divRecords, slower prometheus.Counter
	ns                                                   prometheus.Observer
}

func newShadowStats(name string) *shadowStats {
	m := metrics()
	return &shadowStats{name: name, m: shadowSeries{
		calls: m.shadowCalls.WithLabelValues(name), records: m.shadowRecords.WithLabelValues(name),
		errors: m.shadowErrors.WithLabelValues(name), divCalls: m.shadowDivCalls.WithLabelValues(name),
		divRecords: m.shadowDivRecords.WithLabelValues(name), slower: m.shadowSlower.WithLabelValues(name),
		ns: m.nsPerRecord.WithLabelValues(name, "shadow"),
	}}
}

func (s *shadowStats) forget() { metrics().forgetShadow(s.name) }

// ShadowStats are a shadow version's calls on this broker and how its
// answers compared with the live version's. Compared counts the calls
// where both answered; DivergentCalls those whose answers differed and
// DivergentRecords the records concerned; SlowerCalls the calls where the
// shadow took longer; LiveNsPerRecord is the live version's time on the
// same calls.
type ShadowStats struct {
	CallStats
	Compared         uint64  `json:"compared"`
	DivergentCalls   uint64  `json:"divergent_calls"`
	DivergentRecords uint64  `json:"divergent_records"`
	SlowerCalls      uint64  `json:"slower_calls"`
	LiveNsPerRecord  float64 `json:"live_ns_per_record"`
}

func (s *shadowStats) snapshot() ShadowStats {
	st := ShadowStats{CallStats: snapshot(&s.calls, &s.records, &s.errors, &s.nanos),
		Compared: s.compared.Load(), DivergentCalls: s.divCalls.Load(), DivergentRecords: s.divRecords.Load(), SlowerCalls: s.slower.Load()}
	if st.Records > 0 {
		st.LiveNsPerRecord = float64(s.liveNanos.Load()) / float64(st.Records)
	}
	return st
}

// done counts one shadow call: its time against the live call's, its
// failure, or (when both answered) divergent records.
func (s *shadowStats) done(records int, took, live time.Duration, err, liveErr error, divergent int) {
	s.calls.Add(1)
	s.records.Add(uint64(records))
	s.nanos.Add(uint64(took.Nanoseconds()))
	s.liveNanos.Add(uint64(live.Nanoseconds()))
	s.m.calls.Inc()
	s.m.records.Add(float64(records))
	if records > 0 {
		s.m.ns.Observe(float64(took.Nanoseconds()) / float64(records))
	}
	if took > live {
		s.slower.Add(1)
		s.m.slower.Inc()
	}
	if failed(err) {
		s.errors.Add(1)
		s.m.errors.Inc()
	}
	if err != nil || liveErr != nil {
		return
	}
	s.compared.Add(1)
	if divergent > 0 {
		s.divCalls.Add(1)
		s.divRecords.Add(uint64(divergent))
		s.m.divCalls.Inc()
		s.m.divRecords.Add(float64(divergent))
	}
}

func (sh *shadowVersion) partition(ctx context.Context, topic string, recs []hooks.Record, n int32, live []int32, liveErr error, liveTook time.Duration) {
	start := time.Now()
	parts, err := sh.mod.Partition(ctx, topic, recs, n)
	if errors.Is(err, wasm.ErrModuleClosed) {
		return // the shadow ended during the call
	}
	div := 0
	for i := range max(len(parts), len(live)) {
		if i >= len(parts) || i >= len(live) || parts[i] != live[i] {
			div++
		}
	}
	sh.stats.done(len(recs), time.Since(start), liveTook, err, liveErr, div)
}

func (sh *shadowVersion) transform(ctx context.Context, topic string, partition int32, recs []hooks.Record, live []hooks.Record, liveEmits []hooks.Emit, liveErr error, liveTook time.Duration) {
	start := time.Now()
	out, emits, err := sh.mod.Transform(ctx, topic, partition, recs)
	if errors.Is(err, wasm.ErrModuleClosed) {
		return
	}
	// Outputs are compared position by position (a record missing on one
	// side counts once), and so are emits.
	div := 0
	for i := range max(len(out), len(live)) {
		if i >= len(out) || i >= len(live) || !sameRecord(out[i], live[i]) {
			div++
		}
	}
	for i := range max(len(emits), len(liveEmits)) {
		if i >= len(emits) || i >= len(liveEmits) || emits[i].Topic != liveEmits[i].Topic || !sameRecord(emits[i].Record, liveEmits[i].Record) {
			div++
		}
	}
	sh.stats.done(len(recs), time.Since(start), liveTook, err, liveErr, div)
}

func (sh *shadowVersion) filter(ctx context.Context, topic string, partition int32, reader hooks.Reader, recs []hooks.Record, live []hooks.Record, liveErr error, liveTook time.Duration) {
	start := time.Now()
	out, err := sh.mod.Filter(ctx, topic, partition, reader, recs)
	if errors.Is(err, wasm.ErrModuleClosed) {
		return
	}
	// Filters keep offsets: a record counts when only one side kept it,
	// or both did but with different content.
	div := 0
	i, j := 0, 0
	for i < len(out) || j < len(live) {
		switch {
		case j == len(live) || (i < len(out) && out[i].Offset < live[j].Offset):
			div++
			i++
		case i == len(out) || live[j].Offset < out[i].Offset:
			div++
			j++
		default:
			if !sameRecord(out[i], live[j]) {
				div++
			}
			i++
			j++
		}
	}
	sh.stats.done(len(recs), time.Since(start), liveTook, err, liveErr, div)
}

// checkShadow fails unless name has a live version with hook on topic;
// call with mu held.
func (r *Registry) checkShadow(name string, hook wasm.Hook, topic string) error {
	l, ok := r.loaded[name]
	switch {
	case !ok:
		return fmt.Errorf("%w: %q has no live version to shadow", ErrNotFound, name)
	case l.dep.Hook != hook || l.dep.Topic != topic:
		return fmt.Errorf("%w: a shadow of %q must be the %s of topic %q like its live version", ErrInvalid, name, l.dep.Hook, l.dep.Topic)
	}
	return nil
}

// installShadow loads code as the shadow of dep.Name's live version;
// call with mu held and checkShadow passed.
func (r *Registry) installShadow(ctx context.Context, dep Deployment, code []byte) (Deployment, error) {
	cancelled := unretire(dep.Name, true)
	mod, err := r.engine.Load(ctx, wasm.Spec{Name: dep.Name + shadowSuffix, Hook: dep.Hook, Config: dep.Config, Wasm: code})
	if err != nil {
		requeue(cancelled)
		return Deployment{}, err
	}
	if err := r.store.writeModule(dep, code); err != nil {
		mod.Close()
		requeue(cancelled)
		return Deployment{}, err
	}
	l := r.loaded[dep.Name]
	next := r.store.state.clone()
	next.Shadows = append(withoutName(next.Shadows, dep.Name), dep)
	next.LastVersions[dep.Name] = max(next.LastVersions[dep.Name], dep.Version)
	if err := r.store.save(next); err != nil {
		mod.Close()
		requeue(cancelled)
		if !r.referencedFiles()[r.store.modulePath(dep)] {
			r.removeFile(r.store.modulePath(dep))
		}
		return Deployment{}, err
	}
	old := l.shadow
	l.shadow = &shadowVersion{dep: dep, mod: mod, stats: newShadowStats(dep.Name)}
	r.publish()
	if old != nil {
		// The new shadow's module has the same name: it continues the
		// old one's series rather than losing them.
		old.mod.Close()
		r.dropFiles(r.referencedFiles(), &old.dep)
	}
	r.logger.Info("plugin shadow deployed", "plugin", dep.Name, "version", dep.Version, "live_version", l.dep.Version, "sha256", dep.SHA256)
	return dep, nil
}

// uninstallShadow stops name's shadow; call with mu held.
func (r *Registry) uninstallShadow(name string) (Deployment, error) {
	l, ok := r.loaded[name]
	if !ok || l.shadow == nil {
		return Deployment{}, fmt.Errorf("%w: %q has no shadow version", ErrNotFound, name)
	}
	next := r.store.state.clone()
	next.Shadows = withoutName(next.Shadows, name)
	if err := r.store.save(next); err != nil {
		return Deployment{}, err
	}
	sh := l.shadow
	l.shadow = nil
	r.publish()
	sh.mod.Close()
	r.retireShadow(sh)
	r.dropFiles(r.referencedFiles(), &sh.dep)
	r.logger.Info("plugin shadow removed", "plugin", name, "version", sh.dep.Version)
	return sh.dep, nil
}

func withoutName(deps []Deployment, name string) []Deployment {
	out := deps[:0:0]
	for _, d := range deps {
		if d.Name != name {
			out = append(out, d)
		}
	}
	return out
}

// promotion is what promoting name's shadow publishes or installs; call
// with mu held.
func (r *Registry) promotion(name string) (Deployment, []byte, error) {
	l, ok := r.loaded[name]
	if !ok || l.shadow == nil {
		return Deployment{}, nil, fmt.Errorf("%w: %q has no shadow version to promote", ErrNotFound, name)
	}
	code, err := r.store.readModule(l.shadow.dep)
	if err != nil {
		return Deployment{}, nil, err
	}
	return l.shadow.dep, code, nil
}

// rollbackTo is the version a rollback of name publishes or installs:
// an earlier version's module and settings as a new version; call with
// mu held. to is that version (0: r.previous, the version before the
// live one that was not itself rolled back from). failing, when not 0,
// is the live version being rolled back (a rollback of a version no
// longer live is refused).
func (r *Registry) rollbackTo(name string, failing, to int) (Deployment, []byte, error) {
	l, ok := r.loaded[name]
	switch {
	case !ok:
		return Deployment{}, nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	case failing != 0 && l.dep.Version != failing:
		return Deployment{}, nil, fmt.Errorf("%w: version %d of %q is no longer live (version %d is)", ErrConflict, failing, name, l.dep.Version)
	case failing != 0 && l.dep.RollbackOf != 0:
		// An automatic rollback does not undo a restore: the restored
		// module ran before, so its failures now more likely come from
		// the data, and walking further back is for an operator to decide.
		return Deployment{}, nil, fmt.Errorf("%w: version %d of %q is itself a rollback (of version %d): not rolled back automatically", ErrConflict, failing, name, l.dep.RollbackOf)
	case to != 0 && to == l.dep.Version:
		return Deployment{}, nil, fmt.Errorf("%w: version %d of %q is the live version", ErrInvalid, to, name)
	}
	var target *Deployment
	if to == 0 {
		if target = r.previous(name); target == nil {
			return Deployment{}, nil, fmt.Errorf("%w (plugin %q)", ErrNoPrevious, name)
		}
	} else {
		for _, d := range r.store.state.history(name) {
			if d.Version == to {
				target = &d
				break
			}
		}
		if target == nil {
			return Deployment{}, nil, fmt.Errorf("%w: version %d of %q is not kept (GET /admin/plugins/%s/versions lists the kept ones)", ErrNotFound, to, name, name)
		}
	}
	if target.Topic != l.dep.Topic || target.Hook != l.dep.Hook {
		if err := r.checkTopic(target.Topic); err != nil {
			return Deployment{}, nil, err
		}
		if err := r.checkConflict(name, target.Hook, target.Topic); err != nil {
			return Deployment{}, nil, err
		}
	}
	code, err := r.store.readModule(*target)
	if err != nil {
		return Deployment{}, nil, err
	}
	dep := *target
	dep.Version = r.store.state.LastVersions[name] + 1
	dep.RollbackOf = l.dep.Version
	dep.Restores = target.Version
	dep.DeployedAt = time.Now().UTC().Truncate(time.Millisecond)
	return dep, code, nil
}

// Promote makes name's shadow version live on this registry only (see
// Deploy); the replaced live version becomes the previous version.
func (r *Registry) Promote(ctx context.Context, name string) (Deployment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Deployment{}, ErrClosed
	}
	dep, code, err := r.promotion(name)
	if err != nil {
		return Deployment{}, err
	}
	return r.install(ctx, dep, code)
}

// Rollback replaces name's live version (failing, or whatever is live
// when 0) by its previous version on this registry only.
func (r *Registry) Rollback(ctx context.Context, name string, failing int) (Deployment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Deployment{}, ErrClosed
	}
	return r.rollback(ctx, name, failing, 0)
}

// RollbackTo makes version (0: the previous one) of name live again, as
// a new version, on this registry only.
func (r *Registry) RollbackTo(ctx context.Context, name string, version int) (Deployment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Deployment{}, ErrClosed
	}
	return r.rollback(ctx, name, 0, version)
}

// rollback installs rollbackTo's version; call with mu held.
func (r *Registry) rollback(ctx context.Context, name string, failing, to int) (Deployment, error) {
	dep, code, err := r.rollbackTo(name, failing, to)
	if err != nil {
		return Deployment{}, err
	}
	return r.install(ctx, dep, code)
}

// RemoveShadow stops name's shadow version on this registry only.
func (r *Registry) RemoveShadow(name string) (Deployment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Deployment{}, ErrClosed
	}
	return r.uninstallShadow(name)
}

// openExtras loads the persisted shadows and checks the earlier
// versions' files at Open. Unlike a live version, a shadow or earlier
// version that no longer loads is dropped with a warning: the topic stays
// guarded by its live version.
func (r *Registry) openExtras() {
	st := r.store.state
	var shadows, history []Deployment
	for _, dep := range st.Shadows {
		l := r.loaded[dep.Name]
		if l == nil || l.dep.Hook != dep.Hook || l.dep.Topic != dep.Topic || dep.Version <= l.dep.Version {
			continue
		}
		code, err := r.store.readModule(dep)
		var mod *wasm.Module
		if err == nil {
			mod, err = r.engine.Load(context.Background(), wasm.Spec{Name: dep.Name + shadowSuffix, Hook: dep.Hook, Config: dep.Config, Wasm: code})
		}
		if err != nil {
			r.logger.Warn("plugins: shadow version dropped: it does not load", "plugin", dep.Name, "version", dep.Version, "err", err)
			continue
		}
		l.shadow = &shadowVersion{dep: dep, mod: mod, stats: newShadowStats(dep.Name)}
		shadows = append(shadows, dep)
	}
	for _, dep := range st.History {
		l := r.loaded[dep.Name]
		if l == nil || dep.Version >= l.dep.Version || slices.ContainsFunc(history, func(d Deployment) bool { return d.Name == dep.Name && d.Version == dep.Version }) {
			continue
		}
		if _, err := r.store.readModule(dep); err != nil {
			r.logger.Warn("plugins: earlier version dropped: its module is unreadable", "plugin", dep.Name, "version", dep.Version, "err", err)
			continue
		}
		history = append(history, dep)
	}
	if len(shadows) != len(st.Shadows) || len(history) != len(st.History) {
		next := st.clone()
		next.Shadows, next.History = shadows, history
		if err := r.store.save(next); err != nil {
			r.logger.Warn("plugins: saving the registry state", "err", err)
		}
	}
}
