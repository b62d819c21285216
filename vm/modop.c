// SPDX-License-Identifier: MIT
/*
 * kernelmagic-modop: one guest-agent exchange per module operation.
 *
 * kmod's insmod and rmmod cost ~60 and ~40 ms each under TCG (a dynamic binary that
 * loads libcrypto, zstd and lzma), and reading the kernel log around them cost two
 * more exchanges. This static helper does the system call itself and returns exactly
 * the kernel log records the operation caused, in one run:
 *
 *   kernelmagic-modop insmod KEEP FILE [PARAM...]   finit_module(FILE, "PARAM PARAM...")
 *   kernelmagic-modop rmmod KEEP [-f] NAME          kmod's checks, then delete_module
 *   kernelmagic-modop probe PID                     state and kernel stack of PID's tree,
 *                                                   the clocks, an operation's progress
 *   kernelmagic-modop kill PID                      SIGKILL PID and its descendants
 *   kernelmagic-modop running                       module operations still running
 *                                                   (ours, and kmod's modprobe/insmod/rmmod)
 *
 * The operation runs in a forked child, so an oops that kills it (the kernel kills the
 * task that oopsed) still leaves this process to report the oops's records; the child
 * is the task a hung init or exit leaves stuck, which "probe" then shows. With several
 * CPUs the child runs on the last one, away from the interrupts (see vm/init). KEEP
 * bounds the records printed (the last ones are kept; a flood's end usually holds the
 * error). An oops raises the console loglevel to 15; the level from before is restored.
 * Parameters arrive as argv and are joined with spaces, as kmod's insmod joins them;
 * no shell ever sees them. Output, one item a line (the host parses it):
 *
 *   mark SEQ TS_US COUNT     the log before: next sequence number, last record's
 *                            timestamp and how many records share it (-1 0: empty)
 *   state S                  rmmod: live, coming, going, builtin or none (as sysfs says)
 *   holders A B...           rmmod: modules that use NAME
 *   refcnt N                 rmmod: NAME's use count
 *   result KIND N            errno N (0: done), signal N (the child was killed),
 *                            open N (FILE could not be opened), refused WHY (rmmod's
 *                            checks: notloaded, builtin, holders, inuse)
 *   lost N                   records the kernel overwrote before they could be read
 *   omitted N                all the records left out: the lost ones, and the earlier
 *                            ones beyond the last KEEP
 *   rec LINE                 one /dev/kmsg record: "PRI,SEQ,TS_US,FLAGS;TEXT", TEXT
 *                            escaped by the kernel (\xNN for bytes < 32, >= 127, '\')
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_DIR "/run/kernelmagic-modop"
#define PRINTK "/proc/sys/kernel/printk"
#define TAINTED "/proc/sys/kernel/tainted"
#define TAINT_DIE (1 << 7)
#define VERBOSE_LEVEL 15 /* what an oops sets the console loglevel to */
#define LAB_LEVEL 5
#define MAX_KEEP 10000
#define MAX_TREE 256

static char rec[8192 + 1];

/* -- small file helpers ------------------------------------------------------------- */

static int read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

static long read_long(const char *path, long fallback)
{
    char buf[64];
    if (read_text(path, buf, sizeof buf) < 0)
        return fallback;
    char *end;
    long value = strtol(buf, &end, 10);
    return end == buf ? fallback : value;
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
    close(fd);
}

/* -- the console loglevel ------------------------------------------------------------
 * The lab runs the console at 5 (a printk flood costs 12 s at 8). An oops raises it to
 * 15 for the rest of the boot (console_verbose), which would make the next flood slow
 * again: put back the level that held before the oops. */

static void remember_console_level(void)
{
    long level = read_long(PRINTK, LAB_LEVEL);
    long tainted = read_long(TAINTED, 0);
    char buf[32];
    if (level == VERBOSE_LEVEL && (tainted & TAINT_DIE)) {
        /* an oops outside an operation (a timer, a work item) left it raised */
        long saved = read_long(RUN_DIR "/console", LAB_LEVEL);
        snprintf(buf, sizeof buf, "%ld\n", saved);
        write_text(PRINTK, buf);
    } else {
        snprintf(buf, sizeof buf, "%ld\n", level);
        write_text(RUN_DIR "/console", buf);
    }
}

static void restore_console_level(void)
{
    if (read_long(PRINTK, LAB_LEVEL) == VERBOSE_LEVEL && (read_long(TAINTED, 0) & TAINT_DIE)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%ld\n", read_long(RUN_DIR "/console", LAB_LEVEL));
        write_text(PRINTK, buf);
    }
}

/* -- the kernel log ------------------------------------------------------------------ */

struct logstate {
    int fd;                      /* at the mark; read once the operation is over */
    unsigned long long next_seq; /* the sequence number expected next */
    int seq_known;
    unsigned long long lost, seen, keep;
    char **ring;
    char progress[64];
    unsigned long long wakeups; /* times new records appeared while the call ran */
};

static long long now_us(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* How far the operation has come, for "probe": records so far, and when the last came
 * (the host's deadline counts from it: a module that keeps logging is not hung). */
static void write_progress(struct logstate *st)
{
    char buf[96];
    snprintf(buf, sizeof buf, "records %llu\nlast %lld\n", st->wakeups, now_us());
    write_text(st->progress, buf);
}

/* Parse "PRI,SEQ,TS,..." far enough to get SEQ and TS. */
static int record_head(const char *line, unsigned long long *seq, unsigned long long *ts)
{
    return sscanf(line, "%*u,%llu,%llu", seq, ts) == 2 ? 0 : -1;
}

/* Read every record there is now; keep the last ``keep`` of them. */
static void drain(struct logstate *st)
{
    for (;;) {
        ssize_t n = read(st->fd, rec, sizeof rec - 1);
        if (n < 0) {
            if (errno == EPIPE) /* overwritten before we read it: counted by sequence */
                continue;
            if (errno == EINTR)
                continue;
            break; /* EAGAIN: nothing more */
        }
        rec[n] = '\0';
        char *newline = strchr(rec, '\n');
        if (newline) /* drop the dictionary lines (SUBSYSTEM=...) after the record */
            *newline = '\0';
        unsigned long long seq, ts;
        if (record_head(rec, &seq, &ts) < 0)
            continue;
        if (st->seq_known && seq > st->next_seq)
            st->lost += seq - st->next_seq;
        st->next_seq = seq + 1;
        st->seq_known = 1;
        unsigned long long slot = st->seen % st->keep;
        free(st->ring[slot]);
        st->ring[slot] = strdup(rec);
        st->seen++;
    }
}

/* Open the log and read to its end: the mark is where the operation's records start. */
static int open_log(struct logstate *st, unsigned long long keep)
{
    memset(st, 0, sizeof *st);
    st->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (st->fd < 0) {
        perror("kernelmagic-modop: /dev/kmsg");
        return -1;
    }
    unsigned long long last_ts = 0, count = 0, seq, ts;
    int any = 0;
    for (;;) {
        ssize_t n = read(st->fd, rec, sizeof rec - 1);
        if (n < 0) {
            if (errno == EPIPE || errno == EINTR)
                continue;
            break;
        }
        rec[n] = '\0';
        if (record_head(rec, &seq, &ts) < 0)
            continue;
        st->next_seq = seq + 1;
        st->seq_known = 1;
        count = (any && ts == last_ts) ? count + 1 : 1;
        last_ts = ts;
        any = 1;
    }
    if (any)
        printf("mark %llu %llu %llu\n", st->next_seq, last_ts, count);
    else
        printf("mark 0 -1 0\n");
    st->keep = keep;
    st->ring = calloc(keep, sizeof *st->ring);
    return st->ring ? 0 : -1;
}

static void print_records(struct logstate *st)
{
    unsigned long long kept = st->seen < st->keep ? st->seen : st->keep;
    if (st->lost)
        printf("lost %llu\n", st->lost);
    if (st->lost + st->seen - kept)
        printf("omitted %llu\n", st->lost + st->seen - kept);
    for (unsigned long long i = st->seen - kept; i < st->seen; i++)
        printf("rec %s\n", st->ring[i % st->keep]);
}

/* -- running the operation in a child ------------------------------------------------ */

enum { OP_INSMOD, OP_RMMOD };

struct outcome {
    char kind; /* 'e': errno of the system call, 'o': errno of opening FILE */
    int err;
};

static void child(int op, const char *target, const char *params, int flags, int report)
{
    struct outcome out = {'e', 0};
    /* With several CPUs, run the module's init or exit on the last one: the init
     * sends the interrupts, the guest agent's among them, to CPU 0 (vm/init), so an
     * init that spins with interrupts off does not silence the agent too. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 1) {
        cpu_set_t last;
        CPU_ZERO(&last);
        CPU_SET((int)cpus - 1, &last);
        sched_setaffinity(0, sizeof last, &last);
    }
    if (op == OP_INSMOD) {
        int fd = open(target, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            out = (struct outcome){'o', errno};
        else if (syscall(SYS_finit_module, fd, params, 0) != 0)
            out.err = errno;
    } else if (syscall(SYS_delete_module, target, flags) != 0) {
        out.err = errno;
    }
    ssize_t ignored = write(report, &out, sizeof out);
    (void)ignored;
    _exit(0);
}

/* Wait for the child, noting when new records appear without reading them: reading
 * each record of a flood as it comes costs more than the flood (a second per 60 000
 * under TCG), and the operation's records are read once, from the mark, at its end
 * (those a flood overwrote meanwhile are counted by sequence number). */
static int wait_child(struct logstate *st, int report, struct outcome *out)
{
    int watch = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (watch >= 0)
        lseek(watch, 0, SEEK_END);
    size_t got = 0;
    long long quiet_until = 0;
    for (;;) {
        /* After a wake-up, let records pile up for 50 ms: a flood wakes us no more
         * than 20 times a second; the child's end still wakes us at once. */
        int watching = watch >= 0 && now_us() >= quiet_until;
        struct pollfd fds[2] = {{report, POLLIN, 0}, {watch, POLLIN, 0}};
        int timeout = watching ? -1 : (int)((quiet_until - now_us()) / 1000) + 1;
        if (poll(fds, watching ? 2 : 1, timeout) < 0 && errno != EINTR)
            break;
        if (watching && fds[1].revents) {
            lseek(watch, 0, SEEK_END);
            st->wakeups++;
            write_progress(st);
            quiet_until = now_us() + 50000;
        }
        if (fds[0].revents) {
            ssize_t n = read(report, (char *)out + got, sizeof *out - got);
            if (n > 0) {
                got += (size_t)n;
                continue;
            }
            if (n == 0 || errno != EINTR)
                break;
        }
    }
    if (watch >= 0)
        close(watch);
    return got == sizeof *out;
}

static int run_op(struct logstate *st, int op, const char *target, const char *params, int flags)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        perror("kernelmagic-modop: pipe");
        return 2;
    }
    fflush(stdout); /* the child must not print our buffered lines a second time */
    mkdir(RUN_DIR, 0755);
    snprintf(st->progress, sizeof st->progress, RUN_DIR "/%d", (int)getpid());
    write_progress(st);
    pid_t pid = fork();
    if (pid < 0) {
        perror("kernelmagic-modop: fork");
        return 2;
    }
    if (pid == 0) {
        close(pipefd[0]);
        child(op, target, params, flags, pipefd[1]);
    }
    close(pipefd[1]);
    struct outcome out = {0, 0};
    int reported = wait_child(st, pipefd[0], &out);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    drain(st); /* the records from the mark to the child's end */
    unlink(st->progress);
    if (reported && out.kind == 'o')
        printf("result open %d\n", out.err);
    else if (reported)
        printf("result errno %d\n", out.err);
    else if (WIFSIGNALED(status))
        printf("result signal %d\n", WTERMSIG(status));
    else
        printf("result signal 0\n");
    return out.err || !reported ? 1 : 0;
}

/* -- rmmod's checks, as kmod's rmmod makes them --------------------------------------- */

static const char *module_state(const char *name)
{
    static char buf[64];
    char path[512];
    snprintf(path, sizeof path, "/sys/module/%s/initstate", name);
    if (read_text(path, buf, sizeof buf) > 0) {
        buf[strcspn(buf, "\n")] = '\0';
        return buf;
    }
    snprintf(path, sizeof path, "/sys/module/%s", name);
    struct stat info;
    return stat(path, &info) == 0 ? "builtin" : "none";
}

static int print_holders(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/sys/module/%s/holders", name);
    DIR *dir = opendir(path);
    int count = 0;
    if (!dir)
        return 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        printf(count++ ? " %s" : "holders %s", entry->d_name);
    }
    closedir(dir);
    if (count)
        putchar('\n');
    return count;
}

static int cmd_rmmod(struct logstate *st, const char *name, int force)
{
    const char *state = module_state(name);
    printf("state %s\n", state);
    if (!force) {
        char path[512];
        snprintf(path, sizeof path, "/sys/module/%s/refcnt", name);
        long refcnt = read_long(path, 0);
        const char *why = NULL;
        if (!strcmp(state, "builtin"))
            why = "builtin";
        else if (!strcmp(state, "none"))
            why = "notloaded";
        else if (print_holders(name))
            why = "holders";
        else if (refcnt > 0)
            why = "inuse";
        printf("refcnt %ld\n", refcnt);
        if (why) {
            printf("result refused %s\n", why);
            return 1;
        }
    }
    return run_op(st, OP_RMMOD, name, NULL, O_NONBLOCK | (force ? O_TRUNC : 0));
}

static int cmd_insmod(struct logstate *st, const char *file, int nparams, char **params)
{
    size_t size = 1;
    for (int i = 0; i < nparams; i++)
        size += strlen(params[i]) + 1;
    char *joined = calloc(1, size);
    if (!joined)
        return 2;
    for (int i = 0; i < nparams; i++) {
        if (i)
            strcat(joined, " ");
        strcat(joined, params[i]);
    }
    return run_op(st, OP_INSMOD, file, joined, 0);
}

/* -- a process tree: probe and kill ------------------------------------------------- */

static int tree(pid_t root, pid_t *pids, int count)
{
    if (count >= MAX_TREE)
        return count;
    pids[count++] = root;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/task", (int)root);
    DIR *dir = opendir(path);
    if (!dir)
        return count;
    pid_t children[MAX_TREE];
    int nchildren = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        char file[400];
        snprintf(file, sizeof file, "%s/%s/children", path, entry->d_name);
        if (read_text(file, buf, sizeof buf) <= 0)
            continue;
        for (char *tok = strtok(buf, " \n"); tok && nchildren < MAX_TREE; tok = strtok(NULL, " \n"))
            children[nchildren++] = (pid_t)atoi(tok);
    }
    closedir(dir);
    for (int i = 0; i < nchildren; i++)
        count = tree(children[i], pids, count);
    return count;
}

static void print_file_lines(const char *prefix, const char *path, const char *strip)
{
    static char buf[16384];
    if (read_text(path, buf, sizeof buf) < 0)
        return;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (strip && !strncmp(line, strip, strlen(strip)))
            line += strlen(strip);
        printf("%s %s\n", prefix, line);
    }
}

static int cmd_probe(pid_t root)
{
    char path[128], buf[512];
    /* Clock ticks (from jiffies) beside the monotonic clock: when a CPU that keeps
     * jiffies spins with interrupts off, the ticks stop and the kernel's own stall
     * detectors, which count in jiffies, go blind. The host compares two probes. */
    struct tms ignored;
    printf("ticks %ld\nclock_ms %lld\n", (long)times(&ignored), now_us() / 1000);
    snprintf(path, sizeof path, RUN_DIR "/%d", (int)root);
    unsigned long long records;
    long long last;
    if (read_text(path, buf, sizeof buf) > 0 &&
        sscanf(buf, "records %llu last %lld", &records, &last) == 2)
        printf("records %llu\nidle %.3f\n", records, (now_us() - last) / 1e6);
    pid_t pids[MAX_TREE];
    int count = tree(root, pids, 0);
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pids[i]);
        if (read_text(path, buf, sizeof buf) < 0)
            continue;
        buf[strcspn(buf, "\n")] = '\0';
        printf("task %d %s\n", (int)pids[i], buf);
        snprintf(path, sizeof path, "/proc/%d/status", (int)pids[i]);
        static char status[8192];
        if (read_text(path, status, sizeof status) > 0) {
            char *state = strstr(status, "State:\t");
            if (state) {
                state += strlen("State:\t");
                state[strcspn(state, "\n")] = '\0';
                printf("state %s\n", state);
            }
        }
        snprintf(path, sizeof path, "/proc/%d/wchan", (int)pids[i]);
        if (read_text(path, buf, sizeof buf) >= 0)
            printf("wchan %s\n", buf[0] ? buf : "0");
        snprintf(path, sizeof path, "/proc/%d/stack", (int)pids[i]);
        print_file_lines("stack", path, "[<0>] ");
    }
    return 0;
}

static int cmd_kill(pid_t root)
{
    pid_t pids[MAX_TREE];
    int count = tree(root, pids, 0);
    for (int i = 0; i < count; i++)
        kill(pids[i], SIGSTOP); /* no new children while we go */
    for (int i = count - 1; i >= 0; i--)
        kill(pids[i], SIGKILL);
    printf("killed %d\n", count);
    return 0;
}

static int cmd_running(void)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return 2;
    struct dirent *entry;
    pid_t self = getpid();
    char path[300], buf[4096];
    while ((entry = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)entry->d_name[0]) || atoi(entry->d_name) == self)
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        int n = read_text(path, buf, sizeof buf);
        if (n <= 0)
            continue;
        const char *argv0 = buf, *base = strrchr(argv0, '/');
        base = base ? base + 1 : argv0;
        size_t len0 = strlen(argv0);
        const char *verb = (int)len0 + 1 < n ? buf + len0 + 1 : "";
        if (!strcmp(base, "kernelmagic-modop") && (!strcmp(verb, "insmod") || !strcmp(verb, "rmmod")))
            printf("running %s %s\n", entry->d_name, verb);
        else if (!strcmp(base, "modprobe") || !strcmp(base, "insmod") || !strcmp(base, "rmmod"))
            printf("running %s %s\n", entry->d_name, base); /* kmod's own tools */
    }
    closedir(dir);
    return 0;
}

static int usage(void)
{
    fputs("usage: kernelmagic-modop insmod KEEP FILE [PARAM...] | rmmod KEEP [-f] NAME\n"
          "       kernelmagic-modop probe PID | kill PID | running\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "probe") && argc == 3)
        return cmd_probe((pid_t)atoi(argv[2]));
    if (!strcmp(cmd, "kill") && argc == 3)
        return cmd_kill((pid_t)atoi(argv[2]));
    if (!strcmp(cmd, "running") && argc == 2)
        return cmd_running();
    int is_insmod = !strcmp(cmd, "insmod"), is_rmmod = !strcmp(cmd, "rmmod");
    if ((!is_insmod && !is_rmmod) || argc < 4)
        return usage();
    long keep = strtol(argv[2], NULL, 10);
    if (keep < 1 || keep > MAX_KEEP)
        return usage();
    int force = is_rmmod && !strcmp(argv[3], "-f");
    if (force && argc < 5)
        return usage();
    mkdir(RUN_DIR, 0755);
    struct logstate st;
    if (open_log(&st, (unsigned long long)keep) < 0)
        return 2;
    remember_console_level();
    int rc = is_insmod ? cmd_insmod(&st, argv[3], argc - 4, argv + 4)
                       : cmd_rmmod(&st, argv[force ? 4 : 3], force);
    restore_console_level();
    print_records(&st);
    return rc;
}
