;; A transform for the failure-mode tests. The first byte of the first
;; record's key picks the behaviour:
;;   'l' loops forever            't' traps (unreachable)
;;   'o' grows memory until the cap, then traps
;;   'g' answers with an unknown status
;;   'x' answers with a pointer outside its memory
;;   'r' refuses the batch (status 1, "refused by wat")
;;   'p' refuses it as a policy violation (status 2)
;;   'w' writes "hello from wat" to stdout, then keeps every record
;;   'z' answers "ok, nothing kept" for zero input records (a plugin that
;;       lost its input)
;; anything else keeps every record (tag 0 entries).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "refused by wat")
  (data (i32.const 48) "hello from wat\n")
  ;; iovec for fd_write: {ptr 48, len 15} at 64
  (data (i32.const 64) "\30\00\00\00\0f\00\00\00")

  (func (export "sluice_alloc") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need (i32.add (i32.const 1040) (i32.shl (local.get $size) (i32.const 1))))
    (if (i32.gt_u (local.get $need) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq (i32.const -1)
              (memory.grow
                (i32.sub (i32.shr_u (i32.add (local.get $need) (i32.const 65535)) (i32.const 16))
                         (memory.size))))
          (then (unreachable)))))
    (i32.const 1024))

  (func $refuse (param $out i32) (param $status i32) (result i64)
    (i32.store (local.get $out) (local.get $status))
    (i32.store offset=4 (local.get $out) (i32.const 14))
    (memory.copy (i32.add (local.get $out) (i32.const 8)) (i32.const 16) (i32.const 14))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.const 22)))

  (func (export "sluice_transform") (param $ptr i32) (param $len i32) (result i64)
    (local $count i32) (local $rec i32) (local $out i32) (local $first i32) (local $i i32) (local $e i32)
    (local.set $count (i32.load offset=12 (local.get $ptr)))
    (local.set $rec
      (i32.add (i32.add (local.get $ptr) (i32.const 32))
        (i32.add (i32.add (i32.load offset=16 (local.get $ptr)) (i32.load offset=20 (local.get $ptr)))
                 (i32.add (i32.load offset=24 (local.get $ptr)) (i32.load offset=28 (local.get $ptr))))))
    (local.set $out (i32.and (i32.add (i32.add (local.get $ptr) (local.get $len)) (i32.const 7)) (i32.const -8)))
    (if (i32.and (i32.gt_u (local.get $count) (i32.const 0))
                 (i32.gt_s (i32.load offset=20 (local.get $rec)) (i32.const 0)))
      (then (local.set $first (i32.load8_u offset=24 (local.get $rec)))))
    (if (i32.eq (local.get $first) (i32.const 0x6c)) ;; 'l'
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $first) (i32.const 0x74)) ;; 't'
      (then (unreachable)))
    (if (i32.eq (local.get $first) (i32.const 0x6f)) ;; 'o'
      (then
        (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        (unreachable)))
    (if (i32.eq (local.get $first) (i32.const 0x67)) ;; 'g'
      (then
        (i32.store (local.get $out) (i32.const 7))
        (return (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.const 4)))))
    (if (i32.eq (local.get $first) (i32.const 0x78)) ;; 'x'
      (then (return (i64.const 0x7fffff0000000010))))
    (if (i32.eq (local.get $first) (i32.const 0x72)) ;; 'r'
      (then (return (call $refuse (local.get $out) (i32.const 1)))))
    (if (i32.eq (local.get $first) (i32.const 0x70)) ;; 'p'
      (then (return (call $refuse (local.get $out) (i32.const 2)))))
    (if (i32.eq (local.get $first) (i32.const 0x7a)) ;; 'z'
      (then
        (i64.store (local.get $out) (i64.const 0))
        (i64.store offset=8 (local.get $out) (i64.const 0))
        (return (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32)) (i64.const 16)))))
    (if (i32.eq (local.get $first) (i32.const 0x77)) ;; 'w'
      (then (drop (call $fd_write (i32.const 1) (i32.const 64) (i32.const 1) (i32.const 80)))))
    ;; keep all: status 0, input count, count, count x (u8 0, u32 index), u32 0 emits
    (i32.store (local.get $out) (i32.const 0))
    (i32.store offset=4 (local.get $out) (local.get $count))
    (i32.store offset=8 (local.get $out) (local.get $count))
    (local.set $e (i32.add (local.get $out) (i32.const 12)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (i32.store8 (local.get $e) (i32.const 0))
        (i32.store offset=1 (local.get $e) (local.get $i))
        (local.set $e (i32.add (local.get $e) (i32.const 5)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $e) (i32.const 0))
    (i64.or
      (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
      (i64.extend_i32_u (i32.sub (i32.add (local.get $e) (i32.const 4)) (local.get $out)))))
)
