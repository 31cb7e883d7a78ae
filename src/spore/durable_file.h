#pragma once

// File primitives for crash-safe publication: whole reads and writes that
// survive short transfers and EINTR, directory syncs, and the
// temp-file-then-rename pattern. Every message names the file involved.

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"

namespace spore {

// Writes all of bytes at the file offset.
Result<void> write_fully(int fd, std::span<const uint8_t> bytes, const std::string& what);

// Writes all of bytes at offset without moving the file offset.
Result<void> pwrite_fully(
    int fd, std::span<const uint8_t> bytes, uint64_t offset, const std::string& what);

// Fills out from offset; a file that ends early is an error.
Result<void> pread_fully(int fd, std::span<uint8_t> out, uint64_t offset, const std::string& what);

// Flushes a file's data and metadata to stable storage.
Result<void> sync_file(int fd, const std::string& what);

// Flushes a directory, so that renames and new entries in it are durable.
Result<void> sync_directory(const std::string& path);

// Creates path and any missing parents with mode; existing directories are fine.
Result<void> make_directories(const std::string& path, mode_t mode);

// Fills bytes from the kernel's random source.
Result<void> fill_random(std::span<uint8_t> bytes);

// A suffix unique among live processes and within this one: pid, a counter
// and random hex. Temporary names built from it never collide.
std::string unique_suffix();

// Whether a write waits for stable storage before it returns. A Deferred
// write must be covered by sync_file_system() before anything that names
// it is published: one syncfs for a batch of files costs one journal
// commit where an fsync per file costs one each.
enum class Durability { Synced, Deferred };

// Replaces directory/name with bytes atomically: a hidden temporary file in
// the same directory is written, chmod-ed to mode, synced (unless
// Deferred) and renamed over name. The directory itself is not synced; the
// caller decides when.
Result<void> write_file_atomically(int directory_fd, const std::string& directory_path,
    const std::string& name, std::span<const uint8_t> bytes, mode_t mode,
    Durability durability = Durability::Synced);

// Writes back every dirty inode and block of the file system holding fd
// and waits (syncfs).
Result<void> sync_file_system(int fd, const std::string& what);

} // namespace spore
