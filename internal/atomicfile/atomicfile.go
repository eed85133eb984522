// Package atomicfile replaces a small file so that a crash at any point
// leaves either the old content or the new, never a torn mix: the data is
// written to path+".tmp", fsynced, renamed over path, and the directory is
// fsynced so the rename itself survives a power loss. Checkpoints,
// metadata, credentials and plugin modules all need exactly this; one
// implementation keeps them from drifting (a missed directory fsync, a
// leftover temp file's stale mode).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// TempSuffix is appended to path for the file being written. A crash can
// leave one behind; recovery code may delete files with this suffix.
const TempSuffix = ".tmp"

// Write replaces path with data, created with mode 0o644.
func Write(path string, data []byte) error { return WriteMode(path, data, 0o644) }

// WriteMode replaces path with data and gives it mode (also when a
// leftover temporary file exists: O_CREATE's mode would not apply to it,
// which matters for credentials written 0o600). On failure the temporary
// file is removed and path is unchanged.
func WriteMode(path string, data []byte, mode os.FileMode) (err error) {
	tmp := path + TempSuffix
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("atomicfile: write %s: %w", path, err)
		}
	}()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
