package storage

import (
	"io"
	"io/fs"
	"os"
)

// File is the part of *os.File a log uses for its segment data files. It
// is an interface so that tests can inject write and fsync failures (see
// OpenOptions.OpenFile); production code always uses *os.File.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
	// Fd lets the Kafka layer send chunks with sendfile(2).
	Fd() uintptr
}

// OpenFileFunc opens a segment data file (os.OpenFile's signature).
type OpenFileFunc func(name string, flag int, perm fs.FileMode) (File, error)

// osOpenFile is the default OpenFileFunc.
func osOpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a typed nil *os.File would not compare equal to nil
	}
	return f, nil
}
