/*
 * exec_cpu: runs one command the way cron or Domoticz starts it (fork and
 * exec, no shell) and prints the CPU it used, from wait4's rusage of that
 * process (and of the children it waited for): "rc user_us sys_us wall_us
 * minflt maxrss_kib" on the last line of stdout (minflt: its minor page
 * faults, the pages it touched first; maxrss: the largest peak resident set
 * of the process and those children).
 *
 *   exec_cpu [-o OUT] [-e ERR] [NAME=VALUE ...] -- PROGRAM [ARG ...]
 *
 * The command's stdout and stderr go to OUT and ERR (default /dev/null);
 * NAME=VALUE pairs are added to the environment of the command only.
 * Built and run by bench/common.lua (benchmark 7, the warm start).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long usec(struct timeval tv)
{
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

static int redirect(const char *path, int fd)
{
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (f < 0) {
        return -1;
    }
    if (dup2(f, fd) < 0) {
        close(f);
        return -1;
    }
    close(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *out = "/dev/null";
    const char *err = "/dev/null";
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc) {
            err = argv[++i];
        } else if (strchr(argv[i], '=') == NULL || putenv(argv[i]) != 0) {
            fprintf(stderr, "exec_cpu: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: exec_cpu [-o OUT] [-e ERR] [NAME=VALUE ...] "
                        "-- PROGRAM [ARG ...]\n");
        return 2;
    }
    struct timespec t0;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("exec_cpu: fork");
        return 2;
    }
    if (pid == 0) {
        if (redirect(out, 1) < 0 || redirect(err, 2) < 0) {
            _exit(126);
        }
        execvp(argv[i + 1], argv + i + 1);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("exec_cpu: wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000LL +
                     (t1.tv_nsec - t0.tv_nsec) / 1000;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("%d %lld %lld %lld %ld %ld\n", rc, usec(ru.ru_utime),
           usec(ru.ru_stime), wall, ru.ru_minflt, ru.ru_maxrss);
    return 0;
}
