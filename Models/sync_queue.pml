/*
 * The sync's reliable queue (docs/sync.md, docs/models.md).
 *
 * Mirrors the code:
 *   EventWriter.publish (ConcordFlow/WritePaths)   the producer's MULTI: stream entry, status, LPUSH persistence:queue
 *   SyncEngine.take                                 LMOVE persistence:queue → persistence:processing (one entry, atomic)
 *   SyncEngine.process / write                      parse; the graph write: MERGE the node on id, MERGE the parent
 *                                                   (a placeholder when it has not arrived), MERGE the PARENT_OF edge
 *   SyncEngine.confirm                              one MULTI: ZADD persistence:confirmed, LREM processing
 *                                                   (what is not an event: RPUSH deadletter, LREM processing)
 *   SyncEngine.recover                              on start: LRANGE processing, each entry processed as above
 * Redis and the graph are separate stores: each step is atomic in its own store only.
 * Two workers; a crash of either between any two steps (MAXCRASH in all), each followed by a restart.
 * Events: E1 (parent: the run), E2 (parent: E1) — E2 may be queued first; E1 queued twice (a producer's
 * retry); one entry that is not an event (GARBAGE).
 *
 * Properties:
 *   always       nothing is confirmed that the graph lacks; no node id exists twice
 *   at the end   every event is exactly one (real) node with its parent edge and one confirmation;
 *                the non-event is dead-lettered once, never a node, never confirmed; the queues are empty
 * Mutation (spin -DMUT_CONFIRM_FIRST): confirm (and remove from processing) before the graph write.
 */

#define W 2
#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#define NONE 255
#define E1 0
#define E2 1
#define GARBAGE 2
#define N 3            /* entry kinds */

byte queue[N];         /* copies in persistence:queue */
byte processing[N];    /* copies in persistence:processing */
byte nodes[2];         /* :Node copies with the event's id (placeholder or real) */
bool real[2];          /* the node holds the event (not a placeholder) */
bool edge[2];          /* PARENT_OF from the event's parent */
bool confirmed[2];     /* member of persistence:confirmed */
byte dead;             /* dead letters */
byte crashes, finished;
bool produced;

/* MERGE (n:Node {id}) — one node per id whatever the order. */
#define MERGE_NODE(x) if :: nodes[x] == 0 -> nodes[x] = 1 :: else -> skip fi
/* The graph write of event x, in one statement (one transaction). */
#define WRITE(x) atomic { \
    if :: x == E2 -> MERGE_NODE(E1) :: else -> skip fi; \
    MERGE_NODE(x); real[x] = true; edge[x] = true }
#define IDLE (queue[E1] + queue[E2] + queue[GARBAGE] + processing[E1] + processing[E2] + processing[GARBAGE] == 0)
#define CRASH if :: crashes < MAXCRASH -> crashes++; goto restart :: else -> skip fi

proctype Producer() {
    /* E2 may be queued before its parent; E1 twice (a retried MULTI). Each MULTI is atomic. */
    if
    :: atomic { queue[E2]++ }; atomic { queue[E1]++ }
    :: atomic { queue[E1]++ }; atomic { queue[E2]++ }
    fi;
    atomic { queue[E1]++ };
    atomic { queue[GARBAGE]++; produced = true }
}

active [W] proctype Worker() {
    byte x = NONE;
restart:
    x = NONE;
    /* recover: every entry left in processing (by this worker or another), processed in place */
    do
    :: atomic { processing[E1] > 0 -> x = E1 }; goto handle
    :: atomic { processing[E2] > 0 -> x = E2 }; goto handle
    :: atomic { processing[GARBAGE] > 0 -> x = GARBAGE }; goto handle
    :: processing[E1] == 0 && processing[E2] == 0 && processing[GARBAGE] == 0 -> break
    od;
loop:
    do
    /* take: LMOVE queue → processing */
    :: atomic { queue[E1] > 0 -> queue[E1]--; processing[E1]++; x = E1 }; goto handle
    :: atomic { queue[E2] > 0 -> queue[E2]--; processing[E2]++; x = E2 }; goto handle
    :: atomic { queue[GARBAGE] > 0 -> queue[GARBAGE]--; processing[GARBAGE]++; x = GARBAGE }; goto handle
    :: atomic { (produced && IDLE) -> finished++ }; goto end
    od;
handle:
    CRASH;
    if
    :: x == GARBAGE ->
        /* not an event: dead-lettered and removed from processing, in one MULTI */
        atomic { if :: processing[GARBAGE] > 0 -> processing[GARBAGE]--; dead++ :: else -> skip fi }
    :: else ->
#ifdef MUT_CONFIRM_FIRST
        atomic { confirmed[x] = true; if :: processing[x] > 0 -> processing[x]-- :: else -> skip fi }
        CRASH;
        WRITE(x);
#else
        WRITE(x);
        CRASH;
        atomic { confirmed[x] = true; if :: processing[x] > 0 -> processing[x]-- :: else -> skip fi }
#endif
    fi;
    CRASH;
    goto loop;
end:
    skip
}

init {
    run Producer();
    do
    :: atomic {
        assert(nodes[E1] <= 1 && nodes[E2] <= 1);
        assert(!confirmed[E1] || real[E1]);
        assert(!confirmed[E2] || real[E2]);
       }
    :: finished == W -> break
    od;
    assert(nodes[E1] == 1 && nodes[E2] == 1 && real[E1] && real[E2] && edge[E1] && edge[E2]);
    assert(confirmed[E1] && confirmed[E2]);
    /* The non-event: dead-lettered (once per copy), never a node, never confirmed. */
    assert(dead == 1);
    assert(queue[E1] + queue[E2] + queue[GARBAGE] + processing[E1] + processing[E2] + processing[GARBAGE] == 0)
}
