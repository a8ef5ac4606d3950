/*
 * Native baseline for `npm run bench`: the same workloads as the harness's
 * bench_* exports, written with Xen's own io/ring.h macros and xs_wire.h's
 * MASK_XENSTORE_IDX, compiled with gcc -O2.
 *   rings <workload> <iterations>   runs once, prints the ops counted
 *   rings <workload>                calibrates to >= 0.5 s, prints the best ops/s of 5 runs
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "measure.h"

/* ring.h's barriers as a Linux guest has them on x86-64: a full fence for
 * mb(), compiler barriers for rmb()/wmb() (stores are not reordered there). */
#define mb() __sync_synchronize()
#define rmb() __asm__ __volatile__("" ::: "memory")
#define wmb() __asm__ __volatile__("" ::: "memory")
#define READ_INDEX(x) (*(volatile uint32_t *)&(x))

#include <xen/xen.h>
#include <xen/io/blkif.h>
#include <xen/io/xs_wire.h>

#define PAGE 4096

static _Alignas(PAGE) unsigned char page[PAGE];

/* Where the backend copies each request. Visible outside this file, so the
 * compiler has to perform the whole copy rather than just the fields read. */
blkif_request_t request_copy;

/* The front fills the ring with one-segment READs, the back copies each out
 * and answers it, the front consumes the answers; returns requests answered. */
static uint64_t blkif_ring_roundtrip(uint64_t requests)
{
    blkif_sring_t *s = (blkif_sring_t *)page;
    blkif_front_ring_t front;
    blkif_back_ring_t back;
    uint64_t answered = 0, notifications = 0;
    int notify, more;

    SHARED_RING_INIT(s);
    FRONT_RING_INIT(&front, s, PAGE);
    BACK_RING_INIT(&back, s, PAGE);
    while (answered < requests) {
        while (!RING_FULL(&front)) {
            blkif_request_t *req = RING_GET_REQUEST(&front, front.req_prod_pvt);
            uint64_t id = ++front.req_prod_pvt;
            req->operation = BLKIF_OP_READ;
            req->nr_segments = 1;
            req->handle = 0;
            req->id = id;
            req->sector_number = id << 3;
            req->seg[0].gref = (grant_ref_t)id;
            req->seg[0].first_sect = 0;
            req->seg[0].last_sect = 7;
        }
        RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
        notifications += notify;

        RING_IDX rp = READ_INDEX(back.sring->req_prod);
        rmb();
        if (RING_REQUEST_PROD_OVERFLOW(&back, rp))
            return 0;
        while (back.req_cons != rp && !RING_REQUEST_CONS_OVERFLOW(&back, back.req_cons)) {
            RING_COPY_REQUEST(&back, back.req_cons, &request_copy);
            back.req_cons++;
            blkif_response_t *rsp = RING_GET_RESPONSE(&back, back.rsp_prod_pvt);
            rsp->id = request_copy.id;
            rsp->operation = request_copy.operation;
            rsp->status = BLKIF_RSP_OKAY;
            back.rsp_prod_pvt++;
        }
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&back, notify);
        notifications += notify;

        rp = READ_INDEX(front.sring->rsp_prod);
        rmb();
        if (RING_RESPONSE_PROD_OVERFLOW(&front, rp))
            return 0;
        while (front.rsp_cons != rp) {
            blkif_response_t *rsp = RING_GET_RESPONSE(&front, front.rsp_cons);
            front.rsp_cons++;
            if (rsp->id != front.rsp_cons || rsp->status != BLKIF_RSP_OKAY)
                return 0;
            answered++;
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&front, more);
        if (more)
            return 0;
    }
    return notifications ? answered : 0;
}

/* Copies as much of data as fits into the request ring; -EIO for impossible indices. */
static int xs_write(struct xenstore_domain_interface *intf, const char *data, uint32_t len)
{
    XENSTORE_RING_IDX cons = READ_INDEX(intf->req_cons), prod = READ_INDEX(intf->req_prod);
    uint32_t done = 0;

    mb(); /* read the consumer index before overwriting the bytes it freed */
    if (prod - cons > XENSTORE_RING_SIZE)
        return -EIO;
    while (done < len) {
        uint32_t chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(prod);
        if (XENSTORE_RING_SIZE - (prod - cons) < chunk)
            chunk = XENSTORE_RING_SIZE - (prod - cons);
        if (chunk == 0)
            break;
        if (chunk > len - done)
            chunk = len - done;
        memcpy(intf->req + MASK_XENSTORE_IDX(prod), data + done, chunk);
        prod += chunk;
        done += chunk;
    }
    wmb(); /* data before the index that publishes it */
    intf->req_prod = prod;
    return (int)done;
}

/* Copies up to len bytes out of the request ring; -EIO for impossible indices. */
static int xs_read(struct xenstore_domain_interface *intf, char *data, uint32_t len)
{
    XENSTORE_RING_IDX cons = READ_INDEX(intf->req_cons), prod = READ_INDEX(intf->req_prod);
    uint32_t done = 0;

    rmb(); /* the producer index before the data it covers */
    if (prod - cons > XENSTORE_RING_SIZE)
        return -EIO;
    while (done < len) {
        uint32_t chunk = XENSTORE_RING_SIZE - MASK_XENSTORE_IDX(cons);
        if (prod - cons < chunk)
            chunk = prod - cons;
        if (chunk == 0)
            break;
        if (chunk > len - done)
            chunk = len - done;
        memcpy(data + done, intf->req + MASK_XENSTORE_IDX(cons), chunk);
        cons += chunk;
        done += chunk;
    }
    mb(); /* finish reading before the producer may overwrite */
    intf->req_cons = cons;
    return (int)done;
}

/* A 56-byte XS_READ (header and 40-byte path) written into a xenstore request
 * ring and read back out, `messages` times; returns messages, 0 on a mismatch. */
static uint64_t xenstore_ring_msg(uint64_t messages)
{
    static const char path[40] = "/local/domain/12/device/vbd/51712/state";
    struct xenstore_domain_interface *intf = (struct xenstore_domain_interface *)page;
    _Alignas(8) char message[sizeof(struct xsd_sockmsg) + sizeof(path)];
    _Alignas(8) char received[sizeof(message)];
    struct xsd_sockmsg header = { .type = XS_READ, .tx_id = 0, .len = sizeof(path) };

    memset(page, 0, PAGE);
    memcpy(message + sizeof(header), path, sizeof(path));
    for (uint64_t i = 0; i < messages; i++) {
        header.req_id = (uint32_t)i;
        memcpy(message, &header, sizeof(header));
        if (xs_write(intf, message, sizeof(message)) != (int)sizeof(message))
            return 0;
        if (xs_read(intf, received, sizeof(received)) != (int)sizeof(received))
            return 0;
        if (memcmp(received, message, sizeof(message)) != 0)
            return 0;
    }
    return messages;
}

int main(int argc, char **argv)
{
    workload_fn workload = chosen_workload(argc, argv, blkif_ring_roundtrip, xenstore_ring_msg);
    if (workload == NULL)
        return 2;
    if (argc > 2) {
        printf("%llu\n", (unsigned long long)workload(strtoull(argv[2], NULL, 10)));
        return 0;
    }
    return print_best_ops_per_second(workload);
}
