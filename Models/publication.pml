/*
 * Publication to GitHub, exactly once (docs/github.md, docs/models.md).
 *
 * Mirrors Sources/ConcordFlow/Publication/PublicationWorker.swift:
 *   drainOnce      a worker picks a due publication, takes its advisory lock   (lock[d])
 *   attempt        counts the attempt, committed before any call             (attempts[d]++)
 *                  an attempt after the first looks for the marker first     (lookUp: gh[d] > 0)
 *                  the call to GitHub, with every outcome it can have        (GitHub's answer)
 *                  transient: deferred; after maxAttempts: a last look, then failed
 *   record         one PostgreSQL transaction: publication and draft published
 *   sync           Redis, then the graph, then synced_at (syncPublished redoes it after a crash)
 * Crashes: a worker may die between any two steps (at most MAXCRASH in all);
 * PostgreSQL then releases its session lock, and the worker starts again.
 *
 * Properties:
 *   always       at most one comment (or pull request) per draft on GitHub
 *   always       nothing is published in PostgreSQL that GitHub does not hold
 *   at the end   no publication is left pending; a published one is on GitHub once
 *                and marked in PostgreSQL, Redis and the graph; a failed one is not on GitHub
 *
 * Mutations (spin -DMUT_...): MUT_MARK_FIRST marks published before the call;
 * MUT_NO_LOOK retries without looking; MUT_NO_LOCK takes no advisory lock;
 * MUT_NO_LAST_LOOK gives up after maxAttempts without a last look.
 */

#ifndef D
#define D 2            /* drafts */
#endif
#define W 2            /* workers */
#ifndef MAXCRASH
#define MAXCRASH 2     /* crashes in all */
#endif
#define MAXTRANSIENT 2 /* answers that leave the outcome unknown or ask to wait, in all */
#define MAXATT 2       /* maxAttempts */

#define PENDING 0
#define PUBLISHED 1
#define FAILED 2

byte state[D];         /* github_publication.state */
byte attempts[D];      /* github_publication.attempts */
bool draftPub[D];      /* draft_content.status = 'published' */
bool redisPub[D];      /* Redis status contentStatus = published */
bool graphPub[D];      /* the graph's run contentStatus = published */
bool synced[D];        /* github_publication.synced_at IS NOT NULL */
byte gh[D];            /* comments on GitHub carrying the draft's marker */
byte lock[D];          /* the session advisory lock: 0 free, else the worker's id + 1 */
byte crashes, transients, finished;

/* The outcome of one call to GitHub, as the client reports it. */
#define OK 0
#define DEFER 1        /* refused before writing (429, secondary limit, 5xx before the write): no comment */
#define UNKNOWN 2      /* a timeout or a 5xx after the write: the comment exists, the worker cannot tell */
#define FINAL 3        /* 401/403/404/410/422: nothing written, never retried */

#define CRASH(d) if :: crashes < MAXCRASH -> atomic { crashes++; if :: lock[d] == me + 1 -> lock[d] = 0 :: else -> skip fi }; goto restart :: else -> skip fi

#ifdef MUT_NO_LOCK
#define TAKE(d) (state[d] == PENDING)
#define GRAB(d) skip
#else
#define TAKE(d) (state[d] == PENDING && lock[d] == 0)
#define GRAB(d) lock[d] = me + 1
#endif
#define RELEASE(d) if :: lock[d] == me + 1 -> lock[d] = 0 :: else -> skip fi

active [W] proctype Worker() {
    byte me = _pid;
    byte d, a, outcome;
restart:
    d = 0; a = 0; outcome = 0;
    do
    /* drainOnce: a due publication whose lock is free */
    :: atomic { TAKE(0) -> d = 0; GRAB(0) }; goto publish
    :: atomic { TAKE(1) -> d = 1; GRAB(1) }; goto publish
#if D > 2
    :: atomic { TAKE(2) -> d = 2; GRAB(2) }; goto publish
#endif
    /* syncPublished: committed but not carried to Redis and the graph */
    :: atomic { state[0] == PUBLISHED && !synced[0] -> d = 0 }; goto sync
    :: atomic { state[1] == PUBLISHED && !synced[1] -> d = 1 }; goto sync
#if D > 2
    :: atomic { state[2] == PUBLISHED && !synced[2] -> d = 2 }; goto sync
#endif
    :: atomic { (state[0] != PENDING && (state[0] != PUBLISHED || synced[0])) && (state[1] != PENDING && (state[1] != PUBLISHED || synced[1]))
#if D > 2
                && (state[2] != PENDING && (state[2] != PUBLISHED || synced[2]))
#endif
                -> finished++ }; goto end
    od;

publish:
    /* attempt: the attempt is counted and committed before GitHub is called */
    atomic {
        if
        :: state[d] == PENDING -> attempts[d]++; a = attempts[d]
        :: else -> RELEASE(d); goto restart_loop
        fi
    }
    CRASH(d);
#ifdef MUT_MARK_FIRST
    atomic { state[d] = PUBLISHED; draftPub[d] = true }
    CRASH(d);
#endif
#ifndef MUT_NO_LOOK
    /* lookUp: an attempt after the first looks for what an earlier one may have made */
    if
    :: a > 1 && gh[d] > 0 -> goto record
    :: else -> skip
    fi;
    CRASH(d);
#endif
    /* the call */
    if
    :: outcome = OK
    :: transients < MAXTRANSIENT -> transients++; outcome = DEFER
    :: transients < MAXTRANSIENT -> transients++; outcome = UNKNOWN
    :: outcome = FINAL
    fi;
    if
    :: outcome == OK || outcome == UNKNOWN -> gh[d]++
    :: else -> skip
    fi;
    CRASH(d);
    if
    :: outcome == OK -> goto record
    :: outcome == FINAL -> atomic { state[d] = FAILED; RELEASE(d) }; goto restart_loop
    :: else ->
        if
        :: a < MAXATT -> RELEASE(d); goto restart_loop      /* postpone: next_attempt_at later */
        :: else ->
#ifndef MUT_NO_LAST_LOOK
            /* giving up: a last look, since this attempt's write may have landed */
            if
            :: gh[d] > 0 -> goto record
            :: else -> skip
            fi;
#endif
            atomic { state[d] = FAILED; RELEASE(d) }; goto restart_loop
        fi
    fi;

record:
    /* recordPublished: one PostgreSQL transaction */
    atomic { state[d] = PUBLISHED; draftPub[d] = true; synced[d] = false }
    CRASH(d);
sync:
    redisPub[d] = true;
    CRASH(d);
    graphPub[d] = true;
    CRASH(d);
    synced[d] = true;
    RELEASE(d);
restart_loop:
    goto restart;
end:
    skip
}

/* At most one copy on GitHub, and nothing published that GitHub lacks, in every state. */
active proctype Invariants() {
    do
    :: atomic {
        assert(gh[0] <= 1 && gh[1] <= 1);
#if D > 2
        assert(gh[2] <= 1);
#endif
#ifndef MUT_MARK_FIRST
        assert(state[0] != PUBLISHED || gh[0] == 1);
        assert(state[1] != PUBLISHED || gh[1] == 1);
#else
        assert(!(state[0] == PUBLISHED && synced[0]) || gh[0] == 1);
        assert(!(state[1] == PUBLISHED && synced[1]) || gh[1] == 1);
#endif
       }
    :: finished == W -> break
    od;
    /* The end: nothing pending; published means on GitHub once and marked everywhere; failed means not on GitHub. */
    byte i = 0;
    do
    :: i < D ->
        assert(state[i] != PENDING);
        assert(state[i] != PUBLISHED || (gh[i] == 1 && draftPub[i] && redisPub[i] && graphPub[i] && synced[i]));
        assert(state[i] != FAILED || gh[i] == 0);
        i++
    :: else -> break
    od
}
