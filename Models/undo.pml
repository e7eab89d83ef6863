/*
 * Undo of a plan whose operations share a record (docs/repair.md, docs/models.md).
 *
 * Mirrors the code:
 *   Applier.imaging / writeJournal (ConcordRepair)  each operation: its precondition checked, the record written,
 *                                                   the before- and after-images journaled with its position
 *   RepairPlan.undo (Undo.swift)                    the inverses in exactly the reverse order of application
 *                                                   ("order": "as-listed"), each guarded by the after-image
 *   PutRecordOperation.applyOne                     an inverse runs only if the record is what the plan left
 *                                                   ("already so" when it already holds the target)
 *   Applier.apply + the journal                     an applier killed midway resumes: journaled operations are skipped
 * Three operations write one record r: A→B, B→C, C→D (chained images). The undo is applied by an
 * applier that may be killed after any operation (MAXCRASH), before or after its journal row, and resumes.
 *
 * Property: when the undo has run to the end, r is what it was before the plan (A), and every inverse is
 * journaled applied.
 * Mutation (spin -DMUT_FORWARD): the undo runs the inverses in the order of application.
 */

#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#define K 3                       /* operations in the plan */
byte r = 0;                       /* the record: 0 = A, 1 = B, 2 = C, 3 = D */
byte before[K], after[K];         /* the images the apply journaled */
bool journaled[K];                /* the undo's journal rows (applied) */
byte crashes;

init {
    byte i;
    /* The plan, applied: operation i writes r from i to i + 1; its images are journaled. */
    i = 0;
    do
    :: i < K -> assert(r == i); before[i] = r; r = i + 1; after[i] = r; i++
    :: else -> break
    od;

    /* The undo: position p runs the inverse of operation order[p]. */
    byte p, op;
resume:
    p = 0;
    do
    :: p < K ->
#ifdef MUT_FORWARD
        op = p;
#else
        op = K - 1 - p;
#endif
        if
        :: journaled[op] -> skip                    /* applied before the kill: skipped on resume */
        :: else ->
            atomic {
                if
                :: r == before[op] -> skip           /* already so */
                :: r == after[op] -> r = before[op]  /* the precondition holds: put the before-image back */
                :: else -> skip                      /* refused: the record is not what the plan left */
                fi
            }
            if
            :: crashes < MAXCRASH -> crashes++; goto resume    /* killed before the journal row */
            :: else -> skip
            fi;
            journaled[op] = (r == before[op]);
            if
            :: crashes < MAXCRASH -> crashes++; goto resume    /* killed after it */
            :: else -> skip
            fi
        fi;
        p++
    :: else -> break
    od;
    assert(r == 0);
    assert(journaled[0] && journaled[1] && journaled[2])
}
