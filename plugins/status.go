package plugins

// PluginStatus is a deployed plugin as GET /admin/plugins lists it: its
// live deployment, this broker's statistics of it, its shadow version
// with how it compares, and the version a rollback would restore.
type PluginStatus struct {
	Deployment
	Stats           CallStats     `json:"stats"`
	Shadow          *ShadowStatus `json:"shadow,omitempty"`
	PreviousVersion int           `json:"previous_version,omitempty"`
}

// ShadowStatus is a shadow version and its statistics on this broker.
type ShadowStatus struct {
	Deployment
	Stats ShadowStats `json:"stats"`
}

// Status returns every plugin's status, by name.
func (r *Registry) Status() []PluginStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	deps := r.store.list()
	out := make([]PluginStatus, 0, len(deps))
	for _, d := range deps {
		ps := PluginStatus{Deployment: d}
		if l := r.loaded[d.Name]; l != nil {
			ps.Stats = l.stats.snapshot()
			if l.shadow != nil {
				ps.Shadow = &ShadowStatus{Deployment: l.shadow.dep, Stats: l.shadow.stats.snapshot()}
			}
			if p := r.previous(d.Name); p != nil {
				ps.PreviousVersion = p.Version
			}
		}
		out = append(out, ps)
	}
	return out
}
