/*
 * Streams one lead of a WFDB record (format 212 or 16, e.g. fixtures/records/100) through
 * the rhythm C API at the record's own sampling rate (the header's; the stream resamples
 * to the model's) and prints every beat, at the record's sample positions, and a summary.
 *
 *   classify MODEL.rhm RECORD [MAX_SECONDS] [--memory] [--rss]
 *            [--backend auto|cpu|cpu-scalar|accel|accel-sim] [--accel-uio /dev/uioN]
 *            [--accel-dma udmabufN]
 *
 * RECORD is the path without extension (RECORD.hea and RECORD.dat are read). The lead is
 * MLII if present, else the first. Samples are pushed as raw ADC counts with the header's
 * gain and baseline, in chunks of varying size as a device driver would deliver them.
 * With --memory the model is read into a buffer and opened with rhythm_engine_open_memory.
 * --backend (default auto, with fallback to the CPU) chooses where the network runs:
 * accel-sim runs the accelerator backend on the library's bundled simulator. The backend
 * and its report (ops on the device and on the CPU, fault counters) go to stderr.
 * --rss prints the process's resident memory after each hour of signal pushed
 * ("rss hour=H rss_kb=K", stderr): a soak's check that memory stays flat (bindings/soak.sh).
 *
 * Output: one line per beat, "beat SAMPLE CLASS QUALITY CLASSIFIED P(class)", then
 * "summary beats=... N=... S=... V=... F=... Q=... timeouts=... overflows=...".
 *
 * Builds as C99 and as C++:
 *   cc -std=c99 -Wall -Wextra -Werror -Ibindings/include bindings/examples/classify.c \
 *      target/debug/librhythm.a -lpthread -ldl -lm -o classify
 */
/* stat() (POSIX) under -std=c99. */
#define _POSIX_C_SOURCE 200809L
#include "rhythm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SIGNALS 16

typedef struct {
    int n_signals;
    double fs;
    long n_samples;
    int lead;
    int format;
    double gain;
    int baseline;
    char dat_name[256];
} Header;

typedef struct {
    unsigned long long beats;
    unsigned long long per_class[5];
} Summary;

static const char *const CLASS_NAMES[5] = {"N", "S", "V", "F", "Q"};
static const char *const QUALITY_NAMES[8] = {"ok", "nonfinite", "empty", "flat", "saturated", "outofrange", "noise", "notecg"};

/* True for a regular file; otherwise says why on stderr. Checked before fopen: opening a
 * FIFO blocks, and a device such as /dev/zero would read as an endless signal. */
static int regular_file(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "cannot open %s\n", path);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s is not a regular file\n", path);
        return 0;
    }
    return 1;
}

/* Reads RECORD.hea: record line, then one line per signal. Returns 0 on success. */
static int read_header(const char *record, Header *h) {
    char path[1024];
    char line[512];
    FILE *f;
    int sig = 0;
    int found_mlii = 0;
    snprintf(path, sizeof path, "%s.hea", record);
    if (!regular_file(path)) {
        return -1;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    memset(h, 0, sizeof *h);
    h->lead = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char name[256];
        if (line[0] == '#' || line[0] == '\r' || line[0] == '\n') {
            continue;
        }
        if (h->n_signals == 0) {
            if (sscanf(line, "%255s %d %lf %ld", name, &h->n_signals, &h->fs, &h->n_samples) != 4 ||
                h->n_signals <= 0 || h->n_signals > MAX_SIGNALS) {
                fprintf(stderr, "bad record line in %s\n", path);
                fclose(f);
                return -1;
            }
            continue;
        }
        if (sig < h->n_signals) {
            char file[256], gain_s[64], desc[128];
            int format, adcres, adczero, init, checksum, block;
            double gain;
            int baseline;
            const char *paren;
            desc[0] = '\0';
            if (sscanf(line, "%255s %d %63s %d %d %d %d %d %127s", file, &format, gain_s, &adcres,
                       &adczero, &init, &checksum, &block, desc) < 5) {
                fprintf(stderr, "bad signal line in %s\n", path);
                fclose(f);
                return -1;
            }
            gain = strtod(gain_s, NULL);
            paren = strchr(gain_s, '(');
            baseline = paren != NULL ? atoi(paren + 1) : adczero;
            if (gain == 0.0) {
                gain = 200.0; /* WFDB default */
            }
            if (sig == 0 || (!found_mlii && strcmp(desc, "MLII") == 0)) {
                h->lead = sig;
                h->format = format;
                h->gain = gain;
                h->baseline = baseline;
                snprintf(h->dat_name, sizeof h->dat_name, "%s", file);
                if (strcmp(desc, "MLII") == 0) {
                    found_mlii = 1;
                }
            }
            sig++;
        }
    }
    fclose(f);
    if (h->format != 212 && h->format != 16) {
        fprintf(stderr, "only formats 212 and 16 are supported by this example (got %d)\n", h->format);
        return -1;
    }
    return 0;
}

/* Reads the chosen lead of a format-212 or format-16 file (all signals interleaved in one file). */
static int16_t *read_lead(const char *record, const Header *h, long *n_out) {
    char path[1024];
    const char *slash = strrchr(record, '/');
    size_t dir_len = slash != NULL ? (size_t)(slash - record) + 1 : 0;
    FILE *f;
    long frames = h->n_samples;
    long values;
    unsigned char *bytes;
    int16_t *out;
    long i, got = 0;
    size_t n_bytes, wanted;
    /* values * 3 below must not overflow a long (signed overflow is undefined). */
    if (frames <= 0 || frames > LONG_MAX / 3 / h->n_signals) {
        fprintf(stderr, "%s: sample count %ld in the header is out of range\n", record, frames);
        return NULL;
    }
    values = frames * h->n_signals;
    wanted = h->format == 16 ? (size_t)values * 2 : (size_t)((values * 3 + 1) / 2);
    n_bytes = wanted;
    snprintf(path, sizeof path, "%.*s%s", (int)dir_len, record, h->dat_name);
    if (!regular_file(path)) {
        return NULL;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    bytes = (unsigned char *)malloc(n_bytes);
    out = (int16_t *)malloc((size_t)frames * sizeof(int16_t));
    if (bytes == NULL || out == NULL) {
        free(bytes);
        free(out);
        fclose(f);
        return NULL;
    }
    n_bytes = fread(bytes, 1, n_bytes, f);
    fclose(f);
    if (n_bytes < wanted) {
        /* A short file would silently lose the beats of its missing end. */
        fprintf(stderr, "%s: truncated: %zu of the %zu bytes the header needs\n", path, n_bytes,
                wanted);
        free(bytes);
        free(out);
        return NULL;
    }
    for (i = 0; h->format == 16 && i < values; i++) {
        /* Little-endian two's complement. */
        int v = bytes[2 * i] | (bytes[2 * i + 1] << 8);
        if (v > 32767) v -= 65536;
        if (i % h->n_signals == h->lead) out[got++] = (int16_t)v;
    }
    for (i = 0; h->format == 212 && i + 1 < values && (size_t)((i / 2) * 3 + 2) < n_bytes; i += 2) {
        const unsigned char *b = bytes + (i / 2) * 3;
        int v0 = b[0] | ((b[1] & 0x0f) << 8);
        int v1 = b[2] | ((b[1] & 0xf0) << 4);
        if (v0 > 2047) v0 -= 4096;
        if (v1 > 2047) v1 -= 4096;
        if (i % h->n_signals == h->lead) out[got++] = (int16_t)v0;
        if ((i + 1) % h->n_signals == h->lead) out[got++] = (int16_t)v1;
    }
    free(bytes);
    *n_out = got;
    return out;
}

static void on_beat(const RhythmBeat *beat, void *user) {
    Summary *s = (Summary *)user;
    s->beats++;
    s->per_class[beat->class_]++;
    printf("beat %llu %s %s %d %.4f\n", (unsigned long long)beat->sample, CLASS_NAMES[beat->class_],
           (unsigned)beat->quality < 8 ? QUALITY_NAMES[beat->quality] : "unknown",
           beat->classified ? 1 : 0,
           (double)beat->probabilities[beat->class_]);
}

static int check(RhythmStatus st, const char *what) {
    if (st != RHYTHM_STATUS_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, rhythm_status_name((int32_t)st), rhythm_last_error());
        return -1;
    }
    return 0;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f;
    unsigned char *buf;
    long size;
    if (!regular_file(path)) return NULL;
    f = fopen(path, "rb");
    if (f == NULL) return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = (unsigned char *)malloc((size_t)size);
    if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* The process's resident memory now (Linux: /proc/self/statm); elsewhere its peak. */
static long resident_kb(void) {
    long pages = -1, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
        fclose(f);
    }
    if (resident >= 0) return resident * (sysconf(_SC_PAGESIZE) / 1024);
    {
        struct rusage usage;
        return getrusage(RUSAGE_SELF, &usage) == 0 ? (long)usage.ru_maxrss : -1;
    }
}

int main(int argc, char **argv) {
    static const size_t CHUNKS[] = {1, 7, 100, 360, 1000, 13, 4096};
    Header h;
    int16_t *adc;
    long n = 0, at = 0, max_samples;
    size_t k = 0;
    int use_memory = 0, print_rss = 0, i, rc = 1;
    long next_hour = 1;
    RhythmEngine *engine = NULL;
    RhythmEngineOptions options;
    RhythmStream *stream = NULL;
    RhythmModelInfo info;
    RhythmStreamStats stats;
    RhythmStatus st;
    Summary summary;
    double max_seconds = 0.0;

    memset(&options, 0, sizeof options);
    options.backend = RHYTHM_BACKEND_AUTO;
    options.allow_fallback = true;
    if (argc < 3) {
        fprintf(stderr,
                "usage: %s MODEL.rhm RECORD [MAX_SECONDS] [--memory] [--rss] [--backend NAME] "
                "[--accel-uio /dev/uioN] [--accel-dma udmabufN]\n",
                argv[0]);
        return 2;
    }
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--memory") == 0) {
            use_memory = 1;
        } else if (strcmp(argv[i], "--rss") == 0) {
            print_rss = 1;
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            const char *b = argv[++i];
            if (strcmp(b, "auto") == 0) {
                options.backend = RHYTHM_BACKEND_AUTO;
            } else if (strcmp(b, "cpu") == 0) {
                options.backend = RHYTHM_BACKEND_CPU;
            } else if (strcmp(b, "cpu-scalar") == 0) {
                options.backend = RHYTHM_BACKEND_CPU_SCALAR;
            } else if (strcmp(b, "accel") == 0) {
                options.backend = RHYTHM_BACKEND_ACCEL;
            } else if (strcmp(b, "accel-sim") == 0) {
                options.backend = RHYTHM_BACKEND_ACCEL_SIM;
            } else {
                fprintf(stderr, "unknown backend %s\n", b);
                return 2;
            }
            /* An explicitly named backend must run: no silent fallback. */
            options.allow_fallback = options.backend == RHYTHM_BACKEND_AUTO;
        } else if (strcmp(argv[i], "--accel-uio") == 0 && i + 1 < argc) {
            options.accel_uio = argv[++i];
        } else if (strcmp(argv[i], "--accel-dma") == 0 && i + 1 < argc) {
            options.accel_dma = argv[++i];
        } else {
            max_seconds = atof(argv[i]);
        }
    }
    memset(&summary, 0, sizeof summary);
    printf("rhythm %s (ABI %u)\n", rhythm_version(), rhythm_abi_version());
    if (rhythm_abi_version() != RHYTHM_ABI_VERSION) {
        fprintf(stderr, "header/library ABI mismatch\n");
        return 1;
    }

    if (use_memory) {
        size_t len = 0;
        unsigned char *buf = read_file(argv[1], &len);
        if (buf == NULL) {
            fprintf(stderr, "cannot read %s\n", argv[1]);
            return 1;
        }
        st = rhythm_engine_open_memory(buf, len, RHYTHM_BACKEND_AUTO, true, &engine);
        free(buf); /* the library copied it */
    } else {
        st = rhythm_engine_open_with_options(argv[1], &options, &engine);
    }
    if (check(st, "open model") != 0) return 1;
    fprintf(stderr, "backend: %s\n", rhythm_engine_backend_name(engine));
    if (check(rhythm_engine_info(engine, &info), "model info") != 0) goto done;

    if (read_header(argv[2], &h) != 0) goto done;
    adc = read_lead(argv[2], &h, &n);
    if (adc == NULL) goto done;
    max_samples = max_seconds > 0.0 ? (long)(max_seconds * h.fs) : n;
    if (max_samples > n) max_samples = n;

    /* The device's rate, from the header: the stream resamples to the model's if needed. */
    fprintf(stderr, "stream at %.6g Hz (model %u Hz)\n", h.fs, info.sample_rate_hz);
    if (check(rhythm_stream_new(engine, h.fs, 0.0f, &stream), "stream") != 0) {
        free(adc);
        goto done;
    }
    while (at < max_samples) {
        size_t c = CHUNKS[k++ % (sizeof CHUNKS / sizeof CHUNKS[0])];
        if ((long)c > max_samples - at) c = (size_t)(max_samples - at);
        st = rhythm_stream_push_i16(stream, engine, adc + at, c, h.gain, h.baseline, on_beat, &summary);
        if (check(st, "push") != 0) {
            free(adc);
            goto done;
        }
        at += (long)c;
        if (print_rss && (double)at >= (double)next_hour * 3600.0 * h.fs) {
            fprintf(stderr, "rss hour=%ld rss_kb=%ld\n", next_hour, resident_kb());
            next_hour++;
        }
    }
    free(adc);
    if (check(rhythm_stream_finish(stream, engine, on_beat, &summary), "finish") != 0) goto done;
    if (check(rhythm_stream_stats(stream, &stats), "stats") != 0) goto done;
    printf("summary beats=%llu N=%llu S=%llu V=%llu F=%llu Q=%llu timeouts=%llu overflows=%llu "
           "max_latency_s=%.2f\n",
           summary.beats, summary.per_class[0], summary.per_class[1], summary.per_class[2],
           summary.per_class[3], summary.per_class[4], (unsigned long long)stats.post_rr_timeouts,
           (unsigned long long)stats.overflows, (double)stats.max_latency_samples / h.fs);
    if (stats.not_ecg_beats > 0)
        fprintf(stderr, "warning: %llu of %llu beats lie where the signal is not ECG (beyond 20 mV, "
                        "or piecewise constant: a square wave, an impulse train, a stuck input); "
                        "they have no class\n",
                (unsigned long long)stats.not_ecg_beats, (unsigned long long)stats.beats);
    {
        const char *report = rhythm_engine_backend_report(engine);
        if (report[0] != '\0') fprintf(stderr, "backend report:\n%s\n", report);
    }
    rc = 0;
done:
    rhythm_stream_free(stream);
    rhythm_engine_free(engine);
    return rc;
}
