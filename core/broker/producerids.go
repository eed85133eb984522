package broker

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/sluicemq/sluice/internal/atomicfile"
)

// producerIDBlock is how many producer ids are reserved per disk write.
// Ids of a block left unused at a restart are skipped, never reused: a
// reused id could collide with a live producer's sequence state.
const producerIDBlock = 1000

const producerIDFile = "producer-id-block"

// producerIDs hands out idempotent producer ids that stay unique across
// restarts.
type producerIDs struct {
	mu   sync.Mutex
	path string
	next int64
	end  int64 // exclusive end of the reserved block
}

func openProducerIDs(dir string) (*producerIDs, error) {
	p := &producerIDs{path: filepath.Join(dir, producerIDFile)}
	b, err := os.ReadFile(p.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		end, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, errors.New("broker: corrupt " + p.path)
		}
		p.next, p.end = end, end
	}
	return p, nil
}

func (p *producerIDs) allocate() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		end := p.next + producerIDBlock
		if err := atomicfile.Write(p.path, []byte(strconv.FormatInt(end, 10)+"\n")); err != nil {
			return -1, err
		}
		p.end = end
	}
	id := p.next
	p.next++
	return id, nil
}

// MaxBrokerID is the largest broker id producer ids can carry: the id
// goes in the bits above bit 40 of a non-negative int64, 23 bits. A larger
// one would make negative producer ids, which clients take for "none".
const MaxBrokerID = 1<<23 - 1

// AllocateProducerID returns a new idempotent producer id. The broker id
// goes in the high bits so that brokers of a cluster never hand out the
// same id (each keeps its own persisted counter).
func (b *Broker) AllocateProducerID() (int64, error) {
	if b.cfg.BrokerID < 0 || b.cfg.BrokerID > MaxBrokerID {
		return -1, fmt.Errorf("broker: broker id %d cannot be carried by producer ids (0 to %d)", b.cfg.BrokerID, MaxBrokerID)
	}
	n, err := b.pids.allocate()
	if err != nil {
		return -1, errf(ErrStorage, "reserving producer ids: %v", err)
	}
	return int64(b.cfg.BrokerID)<<40 | n, nil
}
