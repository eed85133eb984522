package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/wasm"
)

// MaxModuleBytes bounds an uploaded module.
const MaxModuleBytes = 64 << 20

// AdminRoutes mounts the plugin admin API on rt (docs/plugin-abi.md,
// "Admin HTTP API"):
//
//	POST   /admin/plugins          deploy (raw body + query, or multipart)
//	GET    /admin/plugins          list
//	GET    /admin/plugins/{name}   one deployment
//	DELETE /admin/plugins/{name}   remove
//
// and the operations of admin_ops.go (dry run, shadow, promote, rollback).
func (r *Registry) AdminRoutes(rt chi.Router) {
	rt.Post("/admin/plugins", r.handleDeploy)
	rt.Get("/admin/plugins", r.handleList)
	rt.Get("/admin/plugins/{name}", r.handleGet)
	rt.Delete("/admin/plugins/{name}", r.handleRemove)
	r.opsRoutes(rt)
}

// ListResponse is the body of GET /admin/plugins.
type ListResponse struct {
	Plugins []PluginStatus `json:"plugins"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

func (r *Registry) handleList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, ListResponse{Plugins: r.Status()})
}

func (r *Registry) handleGet(w http.ResponseWriter, req *http.Request) {
	dep, err := r.Get(chi.URLParam(req, "name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dep)
}

func (r *Registry) handleRemove(w http.ResponseWriter, req *http.Request) {
	dep, err := r.RemoveClusterWide(req.Context(), chi.URLParam(req, "name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dep)
}

func (r *Registry) handleDeploy(w http.ResponseWriter, req *http.Request) {
	req.Body = http.MaxBytesReader(w, req.Body, MaxModuleBytes+1<<20)
	dr, err := parseDeploy(req)
	if err != nil {
		writeError(w, err)
		return
	}
	dep, err := r.DeployClusterWide(req.Context(), dr)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, dep)
}

// parseDeploy reads a deploy request: either multipart/form-data with
// fields name, hook, topic, config (repeatable "key=value") and the
// module in a file field "module", or the module as the raw body with
// the same fields as query parameters.
func parseDeploy(req *http.Request) (DeployRequest, error) {
	var fields url.Values
	var code []byte
	mediaType, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		if err := req.ParseMultipartForm(8 << 20); err != nil {
			return DeployRequest{}, requestError(err)
		}
		defer req.MultipartForm.RemoveAll()
		fields = url.Values(req.MultipartForm.Value)
		for k, v := range req.URL.Query() { // query parameters are accepted too
			fields[k] = append(fields[k], v...)
		}
		f, _, err := req.FormFile("module")
		if err != nil {
			return DeployRequest{}, fmt.Errorf("%w: multipart field \"module\": %v", ErrInvalid, err)
		}
		defer f.Close()
		if code, err = readModule(f); err != nil {
			return DeployRequest{}, err
		}
	} else {
		fields = req.URL.Query()
		var err error
		if code, err = readModule(req.Body); err != nil {
			return DeployRequest{}, err
		}
	}
	hook, err := wasm.ParseHook(fields.Get("hook"))
	if err != nil {
		return DeployRequest{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	config, err := parseConfig(fields["config"])
	if err != nil {
		return DeployRequest{}, err
	}
	dr := DeployRequest{Name: fields.Get("name"), Hook: hook, Topic: fields.Get("topic"), Config: config, Wasm: code}
	if v := fields.Get("shadow"); v != "" {
		if dr.Shadow, err = strconv.ParseBool(v); err != nil {
			return DeployRequest{}, invalid(err)
		}
	}
	switch v := fields.Get("rollback_error_rate"); v {
	case "":
	case "off":
		dr.RollbackErrorRate = -1
	default:
		if dr.RollbackErrorRate, err = strconv.ParseFloat(v, 64); err != nil || dr.RollbackErrorRate <= 0 {
			return DeployRequest{}, fmt.Errorf("%w: rollback_error_rate %q (a fraction in (0, 1], or off)", ErrInvalid, v)
		}
	}
	if v := fields.Get("shadow_every"); v != "" {
		if dr.ShadowEvery, err = strconv.Atoi(v); err != nil || dr.ShadowEvery <= 0 {
			return DeployRequest{}, fmt.Errorf("%w: shadow_every %q", ErrInvalid, v)
		}
	}
	if v := fields.Get("rollback_window"); v != "" {
		if dr.RollbackWindow, err = strconv.Atoi(v); err != nil || dr.RollbackWindow <= 0 {
			return DeployRequest{}, fmt.Errorf("%w: rollback_window %q", ErrInvalid, v)
		}
	}
	return dr, nil
}

func readModule(body io.Reader) ([]byte, error) {
	code, err := io.ReadAll(io.LimitReader(body, MaxModuleBytes+1))
	if err != nil {
		return nil, requestError(err)
	}
	if len(code) > MaxModuleBytes {
		return nil, errTooLarge
	}
	return code, nil
}

var errTooLarge = fmt.Errorf("%w: module larger than %d MiB", ErrInvalid, MaxModuleBytes>>20)

func requestError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	return fmt.Errorf("%w: reading request: %v", ErrInvalid, err)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errTooLarge), errors.Is(err, errRecordTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid), errors.Is(err, wasm.ErrInvalidModule):
		code = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrClosed), errors.Is(err, ErrNoKafka):
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, ErrorResponse{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
