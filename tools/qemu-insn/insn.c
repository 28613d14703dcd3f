/*
 * A QEMU TCG plugin that counts the guest instructions a program executes, all threads
 * together, and writes the total to a file when the program exits:
 *
 *     qemu-aarch64 -plugin tools/qemu-insn/insn.so,out=count.txt PROGRAM ARGS...
 *
 * Used by scripts/measure-a53-host to count the aarch64 instructions per image of each
 * host stage (see runtime/fibha/src/host_model.rs). With marks=FILE it also writes the
 * running count at every getpid system call, one line each: a program brackets the work
 * it wants counted with getpid (runtime/kernels/examples/a53_op_counts.rs does, per
 * operator), so one run gives many counts. Each translated block adds its
 * instruction count when it executes; the add is atomic because every guest thread is a
 * vCPU of its own in user mode (the JPEG decoder runs worker threads).
 *
 * The plugin API is QEMU's public C ABI (include/qemu/qemu-plugin.h, plugin API version
 * 1, QEMU 7.2, as Debian 12 ships). Debian packages no header for it, so the few
 * declarations this plugin needs are written out below.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index,
                                              int64_t num, uint64_t a1, uint64_t a2, uint64_t a3,
                                              uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7,
                                              uint64_t a8);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);

/* aarch64 Linux's getpid (include/uapi/asm-generic/unistd.h). */
#define SYSCALL_GETPID 172

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t executed;
static char out_path[4096];
static FILE *marks;

/* The block that makes the system call has already been counted whole, so a mark counts
 * everything up to and including the call. */
static void syscall_made(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1,
                         uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                         uint64_t a7, uint64_t a8)
{
    (void)id, (void)vcpu_index, (void)a1, (void)a2, (void)a3, (void)a4;
    (void)a5, (void)a6, (void)a7, (void)a8;
    if (num == SYSCALL_GETPID) {
        fprintf(marks, "%llu\n",
                (unsigned long long)__atomic_load_n(&executed, __ATOMIC_RELAXED));
    }
}

static void block_executed(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    __atomic_fetch_add(&executed, (uint64_t)(uintptr_t)userdata, __ATOMIC_RELAXED);
}

static void block_translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, block_executed, QEMU_PLUGIN_CB_NO_REGS,
                                         (void *)(uintptr_t)n);
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    uint64_t total = __atomic_load_n(&executed, __ATOMIC_RELAXED);
    if (marks != NULL) {
        fclose(marks);
    }
    FILE *f = out_path[0] ? fopen(out_path, "w") : stderr;
    if (f == NULL) {
        fprintf(stderr, "insn plugin: cannot write %s\n", out_path);
        return;
    }
    fprintf(f, "%llu\n", (unsigned long long)total);
    if (f != stderr) {
        fclose(f);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (strncmp(argv[i], "marks=", 6) == 0) {
            marks = fopen(argv[i] + 6, "w");
            if (marks == NULL) {
                fprintf(stderr, "insn plugin: cannot write %s\n", argv[i] + 6);
                return -1;
            }
        } else {
            fprintf(stderr, "insn plugin: unknown argument %s (out=FILE, marks=FILE)\n",
                    argv[i]);
            return -1;
        }
    }
    if (marks != NULL) {
        qemu_plugin_register_vcpu_syscall_cb(id, syscall_made);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, block_translated);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
