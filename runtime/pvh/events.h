/* Interrupts: the exception reports and Xen's event upcall. */
#ifndef EVENTS_H
#define EVENTS_H

/* Loads the IDT: exceptions end the domain with a report. */
void traps_init(void);
/* Has Xen raise UPCALL_VECTOR for events; 0 or -errno. */
int events_init(void);
/* SCHEDOP_block with interrupts on: returns once an event is pending. */
void block_until_event(void);

#endif
