package broker

import (
	"errors"

	"github.com/sluicemq/sluice/core/storage"
)

// routineStorageError reports errors the background tasks (flusher,
// retention, cleaner) need not log: an offline log logged its I/O error
// once when it went offline, and a log closed or deleted meanwhile (topic
// deletion racing a pass) has nothing left to do.
func routineStorageError(err error) bool {
	return errors.Is(err, storage.ErrOffline) || errors.Is(err, storage.ErrClosed)
}
