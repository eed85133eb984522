package plugins

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Records of the deployments topic (sync.go): key = plugin name; value =
// one format byte, the metadata JSON's length (uint32, big endian), the
// metadata JSON (a Deployment) and the module bytes. A removal is a
// tombstone (nil value) whose header carries the version it removes, so a
// broker never drops a newer version on an old tombstone.
const (
	recordFormatV1       = 1
	recordHeaderLen      = 1 + 4
	tombstoneVersionKey  = "sluice-plugin-version"
	maxDeploymentRecord  = 32 << 20 // the topic's max.message.bytes
	recordBatchOverhead  = 4 << 10  // batch and record framing, headers
	maxEncodedDeployment = maxDeploymentRecord - recordBatchOverhead
)

// errBadRecord: a deployments-topic record that cannot be applied.
var errBadRecord = errors.New("plugins: malformed deployment record")

// errRecordTooLarge: the deployment does not fit one record of the topic.
var errRecordTooLarge = fmt.Errorf("%w: deployment larger than %d MiB (cluster-wide deployments travel in one record)",
	ErrInvalid, maxEncodedDeployment>>20)

func encodeDeployment(dep Deployment, code []byte) ([]byte, error) {
	meta, err := json.Marshal(dep)
	if err != nil {
		return nil, err
	}
	if recordHeaderLen+len(meta)+len(code) > maxEncodedDeployment {
		return nil, errRecordTooLarge
	}
	b := make([]byte, recordHeaderLen, recordHeaderLen+len(meta)+len(code))
	b[0] = recordFormatV1
	binary.BigEndian.PutUint32(b[1:], uint32(len(meta)))
	b = append(b, meta...)
	return append(b, code...), nil
}

// decodeDeployment parses a record value of key name and checks that it
// names that plugin and that the module matches its digest.
func decodeDeployment(name string, value []byte) (Deployment, []byte, error) {
	if len(value) < recordHeaderLen || value[0] != recordFormatV1 {
		return Deployment{}, nil, fmt.Errorf("%w: unknown format", errBadRecord)
	}
	n := int(binary.BigEndian.Uint32(value[1:]))
	if n > len(value)-recordHeaderLen {
		return Deployment{}, nil, fmt.Errorf("%w: metadata length %d past the end", errBadRecord, n)
	}
	var dep Deployment
	if err := json.Unmarshal(value[recordHeaderLen:recordHeaderLen+n], &dep); err != nil {
		return Deployment{}, nil, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	code := value[recordHeaderLen+n:]
	switch {
	case dep.Name != name:
		return Deployment{}, nil, fmt.Errorf("%w: key %q holds plugin %q", errBadRecord, name, dep.Name)
	case digest(code) != dep.SHA256 || len(code) != dep.Size:
		return Deployment{}, nil, fmt.Errorf("%w: module does not match its sha256/size", errBadRecord)
	}
	req := DeployRequest{Name: dep.Name, Hook: dep.Hook, Topic: dep.Topic, Config: dep.Config, Wasm: code,
		RollbackErrorRate: dep.RollbackErrorRate, RollbackWindow: dep.RollbackWindow,
		ShadowEvery: dep.ShadowEvery}
	if err := req.validate(); err != nil {
		return Deployment{}, nil, fmt.Errorf("%w: %v", errBadRecord, err)
	}
	return dep, code, nil
}

func formatVersion(v int) []byte { return []byte(strconv.Itoa(v)) }

func parseVersion(b []byte) (int, error) {
	v, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("%w: tombstone version %q", errBadRecord, b)
	}
	return v, nil
}
