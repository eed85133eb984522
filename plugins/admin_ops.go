package plugins

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/wasm"
)

// opsRoutes are the dry-run, shadow, promote and rollback endpoints
// (docs/plugin-ops.md); AdminRoutes mounts them behind the same guard as
// the rest of the admin API.
//
//	POST   /admin/plugins/dry-run            run a module over a topic's records
//	POST   /admin/plugins/{name}/promote     make the shadow version live
//	POST   /admin/plugins/{name}/rollback    restore the previous (or ?version=N) version
//	GET    /admin/plugins/{name}/versions    the kept versions (history.go)
//	DELETE /admin/plugins/{name}/shadow      stop the shadow version
func (r *Registry) opsRoutes(rt chi.Router) {
	rt.Post("/admin/plugins/dry-run", r.handleDryRun)
	rt.Post("/admin/plugins/{name}/promote", r.handlePromote)
	rt.Post("/admin/plugins/{name}/rollback", r.handleRollback)
	rt.Get("/admin/plugins/{name}/versions", r.handleVersions)
	rt.Delete("/admin/plugins/{name}/shadow", r.handleRemoveShadow)
}

// handleDryRun: the module is the raw body; hook, topic, from, limit,
// show, principal, partitions and config (repeatable key=value) are query
// parameters. The answer is a DryRunResult.
func (r *Registry) handleDryRun(w http.ResponseWriter, req *http.Request) {
	req.Body = http.MaxBytesReader(w, req.Body, MaxModuleBytes+1<<20)
	code, err := readModule(req.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	q := req.URL.Query()
	hook, err := wasm.ParseHook(q.Get("hook"))
	if err != nil {
		writeError(w, invalid(err))
		return
	}
	config, err := parseConfig(q["config"])
	if err != nil {
		writeError(w, err)
		return
	}
	dr := DryRunRequest{Hook: hook, Topic: q.Get("topic"), Config: config, Wasm: code, From: q.Get("from"), Principal: q.Get("principal")}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"limit", &dr.Limit}, {"show", &dr.Show}} {
		if v := q.Get(f.name); v != "" {
			if *f.dst, err = strconv.Atoi(v); err != nil {
				writeError(w, invalid(err))
				return
			}
		}
	}
	if v := q.Get("partitions"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			writeError(w, invalid(err))
			return
		}
		dr.Partitions = int32(n)
	}
	res, err := r.DryRun(req.Context(), dr)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (r *Registry) handlePromote(w http.ResponseWriter, req *http.Request) {
	dep, err := r.PromoteClusterWide(req.Context(), chi.URLParam(req, "name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dep)
}

func (r *Registry) handleRollback(w http.ResponseWriter, req *http.Request) {
	version := 0
	if v := req.URL.Query().Get("version"); v != "" {
		var err error
		if version, err = strconv.Atoi(v); err != nil || version <= 0 {
			writeError(w, fmt.Errorf("%w: version %q (a version number from GET /admin/plugins/{name}/versions)", ErrInvalid, v))
			return
		}
	}
	dep, err := r.RollbackToClusterWide(req.Context(), chi.URLParam(req, "name"), version)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dep)
}

func (r *Registry) handleVersions(w http.ResponseWriter, req *http.Request) {
	v, err := r.Versions(chi.URLParam(req, "name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (r *Registry) handleRemoveShadow(w http.ResponseWriter, req *http.Request) {
	dep, err := r.RemoveShadowClusterWide(req.Context(), chi.URLParam(req, "name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dep)
}

// parseConfig reads repeatable key=value parameters.
func parseConfig(kvs []string) (map[string]string, error) {
	config := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: config %q is not key=value", ErrInvalid, kv)
		}
		config[k] = v
	}
	return config, nil
}

func invalid(err error) error { return fmt.Errorf("%w: %v", ErrInvalid, err) }
