;; A Sluice partitioner plugin written by hand in WebAssembly text format,
;; to show the batch ABI (docs/plugin-abi.md) needs no SDK: it puts each
;; record on partition fnv1a32(key) mod partitions (records without a key
;; on partition 0). Assemble with: wat2wasm partitioner.wat -o wat-partitioner.wasm
(module
  (memory (export "memory") 1)

  ;; The host writes each batch at address 1024; the answer follows it.
  (global $in i32 (i32.const 1024))

  ;; sluice_alloc(size) -> ptr: make room for the batch and its answer
  ;; (an answer is never bigger than the batch plus 8 bytes).
  (func (export "sluice_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need
      (i32.add (i32.add (global.get $in) (i32.const 16))
               (i32.shl (local.get $size) (i32.const 1))))
    (if (i32.gt_u (local.get $need) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq (i32.const -1)
              (memory.grow
                (i32.sub (i32.shr_u (i32.add (local.get $need) (i32.const 65535)) (i32.const 16))
                         (memory.size))))
          (then (unreachable)))))
    (global.get $in))

  ;; fnv1a32 of len bytes at p.
  (func $fnv1a (param $p i32) (param $len i32) (result i32)
    (local $h i32)
    (local $end i32)
    (local.set $h (i32.const 0x811c9dc5))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $h
          (i32.mul (i32.xor (local.get $h) (i32.load8_u (local.get $p)))
                   (i32.const 0x01000193)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $h))

  ;; sluice_partition(ptr, len) -> ptr<<32 | len of the answer:
  ;; u32 status 0, u32 count, then one i32 partition per record.
  (func (export "sluice_partition") (param $ptr i32) (param $len i32) (result i64)
    (local $n i32) (local $parts i32) (local $count i32) (local $i i32)
    (local $rec i32) (local $keylen i32) (local $out i32) (local $part i32)
    (local.set $parts (i32.load offset=8 (local.get $ptr)))
    (local.set $count (i32.load offset=12 (local.get $ptr)))
    ;; the first record follows the 32-byte header and its four strings
    (local.set $rec
      (i32.add (i32.add (local.get $ptr) (i32.const 32))
        (i32.add (i32.add (i32.load offset=16 (local.get $ptr)) (i32.load offset=20 (local.get $ptr)))
                 (i32.add (i32.load offset=24 (local.get $ptr)) (i32.load offset=28 (local.get $ptr))))))
    (local.set $out (i32.and (i32.add (i32.add (local.get $ptr) (local.get $len)) (i32.const 7)) (i32.const -8)))
    (i32.store (local.get $out) (i32.const 0))
    (i32.store offset=4 (local.get $out) (local.get $count))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        ;; record: u32 body, i64 timestamp, i64 offset, i32 key length, key...
        (local.set $keylen (i32.load offset=20 (local.get $rec)))
        (local.set $part (i32.const 0))
        (if (i32.ne (local.get $keylen) (i32.const -1))
          (then
            (local.set $part
              (i32.rem_u (call $fnv1a (i32.add (local.get $rec) (i32.const 24)) (local.get $keylen))
                         (local.get $parts)))))
        (i32.store offset=8
          (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (local.get $part))
        (local.set $rec (i32.add (i32.add (local.get $rec) (i32.const 4)) (i32.load (local.get $rec))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.add (i32.const 8) (i32.shl (local.get $count) (i32.const 2))))))
)
