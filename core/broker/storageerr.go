package broker

import (
	"errors"
	"io/fs"
	"os"

	"github.com/sluicemq/sluice/core/storage"
)

// routineStorageError reports errors the background tasks (flusher,
// retention, cleaner) need not log: an offline log logged its I/O error
// once when it went offline, and a log closed or deleted meanwhile (topic
// deletion racing a pass) has nothing left to do.
func routineStorageError(err error) bool {
	return errors.Is(err, storage.ErrOffline) || errors.Is(err, storage.ErrClosed)
}

// storeError gives a metadata store's failure to write its own files (the
// embedded store's meta.json: a full or failing disk) the
// ErrStorage (KAFKA_STORAGE_ERROR to clients) of a disk problem; other store
// errors (ZooKeeper's) pass unchanged.
func storeError(err error) error {
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	var sysErr *os.SyscallError
	if errors.As(err, &pathErr) || errors.As(err, &linkErr) || errors.As(err, &sysErr) {
		return errf(ErrStorage, "metadata store: %v", err)
	}
	return err
}
