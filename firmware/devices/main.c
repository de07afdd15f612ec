/*
 * SoC devices from the guest's side, on QEMU's `virt` memory map: the
 * PL011's receive interrupt through the GICv2 or GICv3 (chosen from the
 * device tree, as firmware/timer does), a virtio-blk disk over the modern
 * virtio-mmio transport (read, write, flush, read back, GET_ID), a
 * virtio-console (transmitq, emergency writes), the CFI flash of bank 1
 * (query, erase, program, buffered program, persistence across runs) and
 * the PL031 RTC. One `ok`/`FAIL` line per case
 * (check.h); exits through semihosting with the number of failures.
 * README.md lists the cases and what the host must provide (stdin input,
 * a disk image, a flash image).
 */
#include <stdint.h>

#include "arch.h"
#include "board.h"
#include "check.h"
#include "exc.h"
#include "fdt.h"
#include "print.h"
#include "semihost.h"
#include "uart.h"

/* ---- addresses (QEMU virt) ---- */

#define GICD 0x08000000UL		/* distributor (both versions) */
#define GICC 0x08010000UL		/* GICv2 CPU interface */
#define GICR 0x080A0000UL		/* GICv3 redistributor of core 0 (RD_base) */
#define GICR_SGI (GICR + 0x10000UL)	/* ... its SGI_base frame */

#define UART BOARD_UART0_BASE
#define UART_DR 0x000
#define UART_FR 0x018
#define UART_IMSC 0x038
#define UART_RIS 0x03c
#define UART_MIS 0x040
#define UART_ICR 0x044
#define FR_RXFE (1u << 4)
#define INT_RX (1u << 4)
#define INT_RT (1u << 6)

#define RTC 0x09010000UL
#define RTC_DR 0x000
#define RTC_CR 0x00c

#define VIRTIO_BASE 0x0a000000UL
#define VIRTIO_SLOTS 32
#define VIRTIO_STRIDE 0x200UL

#define FLASH1 0x04000000UL		/* bank 1, the variable store */
#define FLASH_BLOCK 0x40000UL		/* erase block: 256 KiB */

#define SPI_UART 1
#define INTID_UART (32 + SPI_UART)
#define PPI_PTIMER 30
#define PRIO_IRQ 0x80

/* What the host pipes into the UART (tests/device_firmware.rs, qemu-run.sh). */
static const char rx_expect[] = "Preboard devices: UART RX through the GIC\n";
#define RX_LEN (sizeof(rx_expect) - 1)

/* The disk's serial (`--drive IMG,serial=...`, QEMU `serial=...`). */
static const char blk_serial[] = "pb-devices-0001";
/* The disk image: 1 MiB, byte at offset o = image_byte(o) before the run. */
#define BLK_SECTORS 2048
#define WR_FIRST 1			/* sectors written: 1..8 */
#define WR_COUNT 8

static int gicv3;
static uint64_t freq;	/* CNTFRQ_EL0 */

static inline uint32_t rd32(uint64_t a)
{
	return *(volatile uint32_t *)(uintptr_t)a;
}

static inline void wr32(uint64_t a, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)a = v;
}

static inline void isb(void)
{
	__asm__ volatile("isb" : : : "memory");
}

static inline void dmb(void)
{
	__asm__ volatile("dmb sy" : : : "memory");
}

static inline void wfi(void)
{
	__asm__ volatile("dsb sy; wfi" : : : "memory");
}

static inline void irq_unmask(void)
{
	__asm__ volatile("msr daifclr, #2" : : : "memory");
}

static inline void irq_mask(void)
{
	__asm__ volatile("msr daifset, #2" : : : "memory");
}

static inline uint64_t now(void)
{
	isb();
	return read_sysreg(cntpct_el0);
}

/* Counter ticks in `ms` milliseconds. */
static uint64_t ms(uint64_t n)
{
	return freq * n / 1000;
}

/* ---- the GIC, either version (as firmware/timer) ---- */

static void set_byte(uint64_t a, unsigned intid, uint32_t v)
{
	uint64_t w = a + (intid & ~3u);
	unsigned sh = (intid & 3) * 8;

	wr32(w, (rd32(w) & ~(0xffu << sh)) | (v << sh));
}

static uint32_t gic_ack(void)
{
	if (gicv3)
		return (uint32_t)read_sysreg(s3_0_c12_c12_0);	/* ICC_IAR1_EL1 */
	return rd32(GICC + 0x00c);				/* GICC_IAR */
}

static void gic_eoi(uint32_t iar)
{
	if (gicv3) {
		write_sysreg(s3_0_c12_c12_1, iar);		/* ICC_EOIR1_EL1 */
		isb();
	} else {
		wr32(GICC + 0x010, iar);			/* GICC_EOIR */
	}
}

static void gic_init(void)
{
	if (gicv3) {
		wr32(GICD + 0x000, (1u << 4) | 3);	/* ARE, EnableGrp1, EnableGrp0 */
		while (rd32(GICD + 0x000) & (1u << 31))	/* RWP */
			;
		wr32(GICR + 0x014, rd32(GICR + 0x014) & ~2u);	/* WAKER.ProcessorSleep */
		while (rd32(GICR + 0x014) & 4u)		/* ChildrenAsleep */
			;
		wr32(GICR_SGI + 0x080, 0xffffffffu);	/* IGROUPR0: Group 1 */
		write_sysreg(s3_0_c12_c12_5, read_sysreg(s3_0_c12_c12_5) | 1);	/* ICC_SRE_EL1.SRE */
		isb();
		write_sysreg(s3_0_c12_c12_7, 1);	/* ICC_IGRPEN1_EL1 */
		write_sysreg(s3_0_c4_c6_0, 0xff);	/* ICC_PMR_EL1 */
		isb();
		set_byte(GICR_SGI + 0x400, PPI_PTIMER, PRIO_IRQ);
		wr32(GICR_SGI + 0x100, 1u << PPI_PTIMER);	/* ISENABLER0 */
	} else {
		wr32(GICD + 0x000, 1);			/* GICD_CTLR */
		wr32(GICC + 0x000, 1);			/* GICC_CTLR */
		wr32(GICC + 0x004, 0xff);		/* GICC_PMR */
		set_byte(GICD + 0x400, PPI_PTIMER, PRIO_IRQ);
		wr32(GICD + 0x100, 1u << PPI_PTIMER);	/* ISENABLER0 */
	}
}

/*
 * Route SPI `intid` to this core and enable it. Returns what the routing
 * register reads back: GICv2 the ITARGETSR byte (want 1: CPU interface
 * 0), GICv3 the affinity in GICD_IROUTER (want MPIDR_EL1's).
 */
static uint64_t gic_route_spi(unsigned intid)
{
	uint64_t back;
	unsigned n = intid / 32, bit = intid % 32;

	set_byte(GICD + 0x400, intid, PRIO_IRQ);		/* IPRIORITYR */
	if (gicv3) {
		uint64_t mpidr = read_sysreg(mpidr_el1);
		uint64_t r = GICD + 0x6000 + 8 * intid;	/* IROUTER<n>, IRM = 0 */

		wr32(GICD + 0x080 + 4 * n, rd32(GICD + 0x080 + 4 * n) | (1u << bit));	/* IGROUPR: 1 */
		wr32(r, (uint32_t)(mpidr & 0xffffff));
		wr32(r + 4, (uint32_t)((mpidr >> 32) & 0xff));
		back = rd32(r) | ((uint64_t)rd32(r + 4) << 32);
	} else {
		set_byte(GICD + 0x800, intid, 1);		/* ITARGETSR: CPU 0 */
		back = (rd32(GICD + 0x800 + (intid & ~3u)) >> ((intid & 3) * 8)) & 0xff;
	}
	wr32(GICD + 0x100 + 4 * n, 1u << bit);			/* ISENABLER */
	return back;
}

static void gic_disable_spi(unsigned intid)
{
	wr32(GICD + 0x180 + 4 * (intid / 32), 1u << (intid % 32));	/* ICENABLER */
}

/* ---- the device tree: which GIC ---- */

static int has_string(const struct fdt_item *item, const char *s)
{
	const char *p = (const char *)item->value, *end = p + item->len;

	while (p < end) {
		if (fdt_streq(p, s))
			return 1;
		while (p < end && *p)
			p++;
		p++;
	}
	return 0;
}

/* 3 for GICv3, 2 for GICv2, 0 if the DTB names neither. */
static int gic_version(uint64_t x0)
{
	struct fdt f;
	struct fdt_iter it;
	struct fdt_item item;
	struct fdt_error err;
	uintptr_t dtb = fdt_has_magic(x0) ? x0 : BOARD_RAM_BASE;

	if (!fdt_has_magic(dtb) || !fdt_open(&f, dtb, &err))
		return 0;
	fdt_iter_init(&it);
	while (fdt_next(&f, &it, &item, &err) && item.type != FDT_END) {
		if (item.type != FDT_PROP || !fdt_streq(item.name, "compatible") ||
		    !fdt_prop_is_string(&item))
			continue;
		if (has_string(&item, "arm,gic-v3"))
			return 3;
		if (has_string(&item, "arm,cortex-a15-gic") || has_string(&item, "arm,gic-400"))
			return 2;
	}
	return 0;
}

/* ---- interrupts ---- */

#define RX_MAX 128

static volatile struct {
	unsigned uart_irqs, timer_irqs, other_irqs;
	uint32_t first_intid;		/* INTID of the first UART interrupt */
	uint32_t first_mis;		/* UARTMIS when it was taken */
	unsigned len;			/* bytes drained into buf */
	unsigned overflow;		/* bytes beyond RX_MAX */
	uint8_t buf[RX_MAX];
} rx;

static void handler(struct exc_frame *f)
{
	if ((f->vector & 0x180) != VEC_IRQ) {
		uart_puts("unexpected ");
		exc_print(f);
		semihost_exit(100);
	}
	uint32_t iar = gic_ack();
	unsigned intid = iar & 0x3ff;

	if (intid == INTID_UART) {
		if (rx.uart_irqs++ == 0) {
			rx.first_intid = intid;
			rx.first_mis = rd32(UART + UART_MIS);
		}
		/* Clear RX and RT, then drain the FIFO: a byte arriving after the
		 * last read raises them again (clearing after draining could
		 * lose that edge, and the interrupt with it). */
		wr32(UART + UART_ICR, INT_RX | INT_RT);
		while (!(rd32(UART + UART_FR) & FR_RXFE)) {
			uint8_t b = (uint8_t)rd32(UART + UART_DR);

			if (rx.len < RX_MAX)
				rx.buf[rx.len++] = b;
			else
				rx.overflow++;
		}
	} else if (intid == PPI_PTIMER) {
		rx.timer_irqs++;
		write_sysreg(cntp_ctl_el0, 0);	/* the level drops */
		isb();
	} else if (intid < 1020) {
		rx.other_irqs++;
	}
	if (intid < 1020)
		gic_eoi(iar);
}

/* ---- case: UART receive interrupt ---- */

static void uart_case(void)
{
	check_begin("uart-rx-irq");
	uint64_t route = gic_route_spi(INTID_UART);

	if (gicv3)
		check_eq("GICD_IROUTER33", read_sysreg(mpidr_el1) & 0xff00ffffffUL, route);
	else	/* RAZ/WI with one CPU interface (GICD_TYPER.CPUNumber = 0) */
		check_eq("GICD_ITARGETSR33", (rd32(GICD + 0x004) >> 5) & 7 ? 1 : 0, route);
	/* Clear the other interrupts only: RXRIS may already be up for input
	 * that arrived at boot, and it is raised again only by new data. */
	wr32(UART + UART_ICR, 0x7ff & ~(INT_RX | INT_RT));
	wr32(UART + UART_IMSC, INT_RX | INT_RT);

	/* WFI until the line is complete; the physical timer (every 10 ms)
	 * bounds each sleep and the whole wait to 10 s of the counter. */
	uint64_t deadline = now() + ms(10000);

	irq_unmask();
	while (rx.len < RX_LEN && now() < deadline) {
		write_sysreg(cntp_tval_el0, ms(10));
		write_sysreg(cntp_ctl_el0, 1);
		isb();
		wfi();
	}
	irq_mask();
	write_sysreg(cntp_ctl_el0, 0);
	wr32(UART + UART_IMSC, 0);
	gic_disable_spi(INTID_UART);

	check_eq("UART interrupts >= 1", 1, rx.uart_irqs >= 1);
	check_eq("INTID", INTID_UART, rx.first_intid);
	check_eq("UARTMIS has RX or RT", 1, (rx.first_mis & (INT_RX | INT_RT)) != 0);
	check_eq("other interrupts", 0, rx.other_irqs);
	check_eq("bytes received", RX_LEN, rx.len + rx.overflow);
	unsigned bad = 0;
	for (unsigned i = 0; i < rx.len && i < RX_LEN; i++)
		if (rx.buf[i] != (uint8_t)rx_expect[i])
			bad++;
	check_eq("bytes that differ from the input", 0, bad);
	check_eq("RX FIFO empty after", FR_RXFE, rd32(UART + UART_FR) & FR_RXFE);
	check_eq("UARTRIS RX, RT after draining", 0, rd32(UART + UART_RIS) & (INT_RX | INT_RT));
	if (check_end()) {
		uart_puts("  received: \"");
		for (unsigned i = 0; i < rx.len; i++) {
			char c = (char)rx.buf[i];

			if (c == '\n')
				uart_puts("\\n");
			else
				uart_putc(c >= 0x20 && c < 0x7f ? c : '?');
		}
		uart_puts("\"\n");
	}
}

/* ---- case: virtio-blk ---- */

#define VIO_MAGIC 0x000
#define VIO_VERSION 0x004
#define VIO_DEVICE_ID 0x008
#define VIO_DEV_FEATURES 0x010
#define VIO_DEV_FEATURES_SEL 0x014
#define VIO_DRV_FEATURES 0x020
#define VIO_DRV_FEATURES_SEL 0x024
#define VIO_QUEUE_SEL 0x030
#define VIO_QUEUE_NUM_MAX 0x034
#define VIO_QUEUE_NUM 0x038
#define VIO_QUEUE_READY 0x044
#define VIO_QUEUE_NOTIFY 0x050
#define VIO_INT_STATUS 0x060
#define VIO_INT_ACK 0x064
#define VIO_STATUS 0x070
#define VIO_QUEUE_DESC 0x080
#define VIO_QUEUE_DRIVER 0x090
#define VIO_QUEUE_DEVICE 0x0a0
#define VIO_CONFIG 0x100

#define ST_ACKNOWLEDGE 1u
#define ST_DRIVER 2u
#define ST_DRIVER_OK 4u
#define ST_FEATURES_OK 8u
#define ST_NEEDS_RESET 64u

#define F_BLK_FLUSH (1u << 9)
#define F_VERSION_1_HI 1u	/* bit 32 */

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

#define QSIZE 8

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct blk_req {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct vq_avail {
	uint16_t flags, idx, ring[QSIZE], used_event;
};

struct vq_used {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[QSIZE];
	uint16_t avail_event;
};

static struct vq_desc desc[QSIZE] __attribute__((aligned(16)));
static struct vq_avail avail __attribute__((aligned(4)));
static struct vq_used used __attribute__((aligned(8)));
static struct blk_req hdr __attribute__((aligned(16)));
static uint8_t blk_status __attribute__((aligned(16)));
static uint8_t rbuf[WR_COUNT * 512] __attribute__((aligned(16)));
static uint8_t wbuf[WR_COUNT * 512] __attribute__((aligned(16)));
static uint8_t idbuf[20] __attribute__((aligned(16)));
static uint16_t used_seen;
static uint64_t vio;	/* the transport's base */

/* The image's bytes before the run, and what sectors 1..8 get. */
static uint8_t image_byte(uint64_t o)
{
	return (uint8_t)(o * 13 + (o >> 9));
}

static uint8_t written_byte(uint64_t o)
{
	return (uint8_t)((o * 7 + 0x5a) ^ (o >> 9));
}

static void vio_wr64(uint64_t off, uint64_t v)
{
	wr32(vio + off, (uint32_t)v);
	wr32(vio + off + 4, (uint32_t)(v >> 32));
}

/* First transport with this DeviceID (QEMU fills the slots from the top). */
static uint64_t find_virtio(uint32_t device_id)
{
	for (unsigned i = 0; i < VIRTIO_SLOTS; i++) {
		uint64_t b = VIRTIO_BASE + i * VIRTIO_STRIDE;

		if (rd32(b + VIO_MAGIC) == 0x74726976 && rd32(b + VIO_DEVICE_ID) == device_id)
			return b;
	}
	return 0;
}

/*
 * One request: header, an optional data buffer (device-writable if
 * `data_in`) and the status byte, as a chain of descriptors 0, 1, 2. Polls
 * the used ring. Returns the status byte, or 0x100 + reason on a
 * transport problem; *len gets the used element's length.
 */
static unsigned blk_request(uint32_t type, uint64_t sector, void *data, uint32_t data_len,
			    int data_in, uint32_t *len)
{
	unsigned n = 0;

	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	blk_status = 0xff;
	desc[n].addr = (uintptr_t)&hdr;
	desc[n].len = sizeof(hdr);
	desc[n].flags = DESC_F_NEXT;
	desc[n].next = n + 1;
	n++;
	if (data_len) {
		desc[n].addr = (uintptr_t)data;
		desc[n].len = data_len;
		desc[n].flags = DESC_F_NEXT | (data_in ? DESC_F_WRITE : 0);
		desc[n].next = n + 1;
		n++;
	}
	desc[n].addr = (uintptr_t)&blk_status;
	desc[n].len = 1;
	desc[n].flags = DESC_F_WRITE;
	desc[n].next = 0;

	avail.ring[avail.idx % QSIZE] = 0;
	dmb();
	avail.idx = avail.idx + 1;
	dmb();
	wr32(vio + VIO_QUEUE_NOTIFY, 0);

	uint64_t deadline = now() + ms(2000);
	while (*(volatile uint16_t *)&used.idx == used_seen) {
		if (now() > deadline)
			return 0x100;	/* no completion */
	}
	dmb();
	unsigned slot = used_seen % QSIZE;

	used_seen++;
	*len = used.ring[slot].len;
	if (used.ring[slot].id != 0)
		return 0x101;		/* wrong head */
	if (used_seen != *(volatile uint16_t *)&used.idx)
		return 0x102;		/* more than one completion */
	/* A used-buffer notification: InterruptStatus bit 0; acknowledge it. */
	uint32_t is = rd32(vio + VIO_INT_STATUS);

	wr32(vio + VIO_INT_ACK, is);
	if (!(is & 1))
		return 0x103;
	return *(volatile uint8_t *)&blk_status;
}

static int blk_init(void)
{
	uint32_t st, hi, lo;

	check_begin("blk-init");	/* modern virtio-mmio initialisation */
	check_eq("Version", 2, rd32(vio + VIO_VERSION));
	wr32(vio + VIO_STATUS, 0);
	check_eq("Status after reset", 0, rd32(vio + VIO_STATUS));
	wr32(vio + VIO_STATUS, ST_ACKNOWLEDGE);
	wr32(vio + VIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
	wr32(vio + VIO_DEV_FEATURES_SEL, 1);
	hi = rd32(vio + VIO_DEV_FEATURES);
	wr32(vio + VIO_DEV_FEATURES_SEL, 0);
	lo = rd32(vio + VIO_DEV_FEATURES);
	check_eq("VIRTIO_F_VERSION_1 offered", F_VERSION_1_HI, hi & F_VERSION_1_HI);
	check_eq("VIRTIO_BLK_F_FLUSH offered", F_BLK_FLUSH, lo & F_BLK_FLUSH);
	wr32(vio + VIO_DRV_FEATURES_SEL, 1);
	wr32(vio + VIO_DRV_FEATURES, F_VERSION_1_HI);
	wr32(vio + VIO_DRV_FEATURES_SEL, 0);
	wr32(vio + VIO_DRV_FEATURES, lo & F_BLK_FLUSH);
	wr32(vio + VIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
	st = rd32(vio + VIO_STATUS);
	check_eq("FEATURES_OK sticks", ST_FEATURES_OK, st & ST_FEATURES_OK);

	wr32(vio + VIO_QUEUE_SEL, 0);
	check_eq("QueueReady before set-up", 0, rd32(vio + VIO_QUEUE_READY));
	check_eq("QueueNumMax >= 8", 1, rd32(vio + VIO_QUEUE_NUM_MAX) >= QSIZE);
	wr32(vio + VIO_QUEUE_NUM, QSIZE);
	vio_wr64(VIO_QUEUE_DESC, (uintptr_t)desc);
	vio_wr64(VIO_QUEUE_DRIVER, (uintptr_t)&avail);
	vio_wr64(VIO_QUEUE_DEVICE, (uintptr_t)&used);
	wr32(vio + VIO_QUEUE_READY, 1);
	check_eq("QueueReady", 1, rd32(vio + VIO_QUEUE_READY));
	wr32(vio + VIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	check_eq("Status", ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK,
		 rd32(vio + VIO_STATUS));
	/* capacity (le64 at config offset 0): the 1 MiB image */
	uint64_t cap = rd32(vio + VIO_CONFIG) | ((uint64_t)rd32(vio + VIO_CONFIG + 4) << 32);

	check_eq("capacity (sectors)", BLK_SECTORS, cap);
	return check_end();
}

static void blk_cases(void)
{
	uint32_t len = 0;
	unsigned st, bad;

	check_begin("blk-find");	/* a transport with DeviceID 2 */
	vio = find_virtio(2);
	check_eq("virtio-blk transport found", 1, vio != 0);
	if (check_end())
		return;
	if (blk_init())
		return;

	check_begin("blk-read-sector0");	/* the host's pattern */
	st = blk_request(BLK_T_IN, 0, rbuf, 512, 1, &len);
	check_eq("status", 0, st);
	check_eq("used length (data + status)", 513, len);
	bad = 0;
	for (unsigned i = 0; i < 512; i++)
		if (rbuf[i] != image_byte(i))
			bad++;
	check_eq("bytes that differ from the image", 0, bad);
	check_end();

	check_begin("blk-write");	/* sectors 1..8 in one request */
	for (unsigned i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = written_byte(WR_FIRST * 512 + i);
	st = blk_request(BLK_T_OUT, WR_FIRST, wbuf, sizeof(wbuf), 0, &len);
	check_eq("status", 0, st);
	check_eq("used length (status)", 1, len);
	check_end();

	check_begin("blk-flush");
	st = blk_request(BLK_T_FLUSH, 0, 0, 0, 0, &len);
	check_eq("status", 0, st);
	check_eq("used length (status)", 1, len);
	check_end();

	check_begin("blk-readback");	/* sectors 1..8 as written, 9 as it was */
	for (unsigned i = 0; i < sizeof(rbuf); i++)
		rbuf[i] = 0;
	st = blk_request(BLK_T_IN, WR_FIRST, rbuf, sizeof(rbuf), 1, &len);
	check_eq("status", 0, st);
	check_eq("used length (data + status)", sizeof(rbuf) + 1, len);
	bad = 0;
	for (unsigned i = 0; i < sizeof(rbuf); i++)
		if (rbuf[i] != written_byte(WR_FIRST * 512 + i))
			bad++;
	check_eq("bytes that differ from what was written", 0, bad);
	st = blk_request(BLK_T_IN, WR_FIRST + WR_COUNT, rbuf, 512, 1, &len);
	check_eq("status (sector 9)", 0, st);
	bad = 0;
	for (unsigned i = 0; i < 512; i++)
		if (rbuf[i] != image_byte((WR_FIRST + WR_COUNT) * 512 + i))
			bad++;
	check_eq("sector 9 bytes that differ from the image", 0, bad);
	check_end();

	check_begin("blk-read-past-end");	/* the last sector + 1: IOERR */
	st = blk_request(BLK_T_IN, BLK_SECTORS, rbuf, 512, 1, &len);
	check_eq("status", 1, st);
	check_end();

	/* The serial and its NUL (shorter than 20 bytes, so it has one; what
	 * follows may be padding or untouched: QEMU writes up to the NUL). */
	check_begin("blk-get-id");
	for (unsigned i = 0; i < sizeof(idbuf); i++)
		idbuf[i] = 0xee;
	st = blk_request(BLK_T_GET_ID, 0, idbuf, sizeof(idbuf), 1, &len);
	check_eq("status", 0, st);
	bad = 0;
	for (unsigned i = 0; i < sizeof(blk_serial); i++)
		if (idbuf[i] != (uint8_t)blk_serial[i])
			bad++;
	check_eq("ID bytes that differ from the serial", 0, bad);
	check_eq("device needs no reset", 0, rd32(vio + VIO_STATUS) & ST_NEEDS_RESET);
	check_end();

	wr32(vio + VIO_STATUS, 0);	/* leave the device reset */
}

/* ---- cases: virtio-console ---- */

/* What the host finds in the console's backend afterwards: the text sent
 * through transmitq, then "!\n" from two emergency writes. */
static const char con_text[] = "Preboard devices: virtio-console transmitq\n";
#define CON_SPLIT 17			/* the text goes out as two descriptors */
#define CON_TRANSMITQ 1
#define F_CON_EMERG_WRITE (1u << 2)
#define CON_EMERG_WR 8			/* config offset of emerg_wr */

static struct vq_desc cdesc[QSIZE] __attribute__((aligned(16)));
static struct vq_avail cavail __attribute__((aligned(4)));
static struct vq_used cused __attribute__((aligned(8)));

static int con_init(uint64_t con)
{
	uint32_t hi, lo;

	check_begin("console-init");	/* single port: no MULTIPORT */
	check_eq("Version", 2, rd32(con + VIO_VERSION));
	wr32(con + VIO_STATUS, 0);
	wr32(con + VIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
	wr32(con + VIO_DEV_FEATURES_SEL, 1);
	hi = rd32(con + VIO_DEV_FEATURES);
	wr32(con + VIO_DEV_FEATURES_SEL, 0);
	lo = rd32(con + VIO_DEV_FEATURES);
	check_eq("VIRTIO_F_VERSION_1 offered", F_VERSION_1_HI, hi & F_VERSION_1_HI);
	check_eq("VIRTIO_CONSOLE_F_EMERG_WRITE offered", F_CON_EMERG_WRITE, lo & F_CON_EMERG_WRITE);
	wr32(con + VIO_DRV_FEATURES_SEL, 1);
	wr32(con + VIO_DRV_FEATURES, F_VERSION_1_HI);
	wr32(con + VIO_DRV_FEATURES_SEL, 0);
	wr32(con + VIO_DRV_FEATURES, F_CON_EMERG_WRITE);
	wr32(con + VIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
	check_eq("FEATURES_OK sticks", ST_FEATURES_OK, rd32(con + VIO_STATUS) & ST_FEATURES_OK);
	/* Only transmitq; receiveq stays unused (not ready). */
	wr32(con + VIO_QUEUE_SEL, CON_TRANSMITQ);
	check_eq("QueueNumMax >= 8", 1, rd32(con + VIO_QUEUE_NUM_MAX) >= QSIZE);
	wr32(con + VIO_QUEUE_NUM, QSIZE);
	wr32(con + VIO_QUEUE_DESC, (uint32_t)(uintptr_t)cdesc);
	wr32(con + VIO_QUEUE_DESC + 4, 0);
	wr32(con + VIO_QUEUE_DRIVER, (uint32_t)(uintptr_t)&cavail);
	wr32(con + VIO_QUEUE_DRIVER + 4, 0);
	wr32(con + VIO_QUEUE_DEVICE, (uint32_t)(uintptr_t)&cused);
	wr32(con + VIO_QUEUE_DEVICE + 4, 0);
	wr32(con + VIO_QUEUE_READY, 1);
	wr32(con + VIO_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	check_eq("Status", ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK,
		 rd32(con + VIO_STATUS));
	return check_end();
}

static void console_cases(void)
{
	uint64_t con;

	check_begin("console-find");	/* a transport with DeviceID 3 */
	con = find_virtio(3);
	check_eq("virtio-console transport found", 1, con != 0);
	if (check_end() || con_init(con))
		return;

	check_begin("console-transmit");	/* one chain of two device-readable buffers */
	cdesc[0].addr = (uintptr_t)con_text;
	cdesc[0].len = CON_SPLIT;
	cdesc[0].flags = DESC_F_NEXT;
	cdesc[0].next = 1;
	cdesc[1].addr = (uintptr_t)con_text + CON_SPLIT;
	cdesc[1].len = sizeof(con_text) - 1 - CON_SPLIT;
	cdesc[1].flags = 0;
	cdesc[1].next = 0;
	cavail.ring[0] = 0;
	dmb();
	cavail.idx = 1;
	dmb();
	wr32(con + VIO_QUEUE_NOTIFY, CON_TRANSMITQ);
	uint64_t deadline = now() + ms(2000);

	while (*(volatile uint16_t *)&cused.idx == 0 && now() < deadline)
		;
	dmb();
	check_eq("used elements", 1, *(volatile uint16_t *)&cused.idx);
	check_eq("used id", 0, cused.ring[0].id);
	check_eq("used length (nothing written)", 0, cused.ring[0].len);
	uint32_t is = rd32(con + VIO_INT_STATUS);

	wr32(con + VIO_INT_ACK, is);
	check_eq("InterruptStatus: used buffer", 1, is & 1);
	check_end();

	check_begin("console-emerg-write");	/* one byte per write to emerg_wr */
	wr32(con + VIO_CONFIG + CON_EMERG_WR, '!');
	wr32(con + VIO_CONFIG + CON_EMERG_WR, '\n');
	check_eq("device needs no reset", 0, rd32(con + VIO_STATUS) & ST_NEEDS_RESET);
	check_end();

	wr32(con + VIO_STATUS, 0);	/* leave the device reset */
}

/* ---- cases: CFI flash, bank 1 ---- */

#define CMD(c) ((uint32_t)(c) * 0x00010001u)	/* one copy per x16 device */
#define SR_READY CMD(0x80)

/* Block 0 after a run: 4 programmed words, then 16 from a buffered write. */
#define PROG_OFF 0x0
#define BUF_OFF 0x100
#define BUF_WORDS 16
static const uint32_t prog_words[4] = { 0x42455250, 0x44524f41, 0x12345678, 0x0f0f0f0f };
#define REPROG_VALUE 0xff00ff00u	/* programmed over word 3 */
#define REPROG_RESULT 0x0f000f00u	/* flash can only clear bits */

static uint32_t buf_word(unsigned i)
{
	return 0xa5000000u | (i << 16) | ((i * 0x1111u) & 0xffff);
}

static uint32_t flash_rd(uint64_t off)
{
	return rd32(FLASH1 + off);
}

static void flash_cmd(uint64_t off, uint32_t v)
{
	wr32(FLASH1 + off, v);
}

/* Poll the status register until both devices are ready; returns it. */
static uint32_t flash_wait(void)
{
	uint64_t deadline = now() + ms(2000);
	uint32_t s;

	do {
		s = flash_rd(0);
	} while ((s & SR_READY) != SR_READY && now() < deadline);
	return s;
}

/* Whether block 0 holds what a complete run leaves there. */
static int flash_has_marker(void)
{
	for (unsigned i = 0; i < 3; i++)
		if (flash_rd(PROG_OFF + 4 * i) != prog_words[i])
			return 0;
	uint32_t w3 = flash_rd(PROG_OFF + 12);

	if (w3 != REPROG_RESULT && w3 != REPROG_VALUE)	/* see flash-program-clears-bits */
		return 0;
	for (unsigned i = 0; i < BUF_WORDS; i++)
		if (flash_rd(BUF_OFF + 4 * i) != buf_word(i))
			return 0;
	return 1;
}

static int flash_erased(uint64_t off, uint64_t len)
{
	for (uint64_t o = off; o < off + len; o += 4)
		if (flash_rd(o) != 0xffffffffu)
			return 0;
	return 1;
}

static void flash_cases(void)
{
	uint32_t s;

	flash_cmd(0, CMD(0xff));	/* read array */
	check_begin("flash-persisted");	/* what the previous run left */
	if (flash_erased(0, 0x200)) {
		uart_puts("skip flash-persisted (first run)\n");
	} else {
		check_eq("block 0 holds the previous run's data", 1, flash_has_marker());
		check_end();
	}

	check_begin("flash-cfi-query");
	flash_cmd(0x55 * 4, CMD(0x98));
	check_eq("query 0x10 'Q'", CMD('Q'), flash_rd(0x10 * 4));
	check_eq("query 0x11 'R'", CMD('R'), flash_rd(0x11 * 4));
	check_eq("query 0x12 'Y'", CMD('Y'), flash_rd(0x12 * 4));
	check_eq("primary command set (Intel)", CMD(1), flash_rd(0x13 * 4));
	flash_cmd(0, CMD(0xff));
	check_end();

	check_begin("flash-erase");	/* block 0: 0x20, 0xD0, status */
	flash_cmd(0, CMD(0x20));
	flash_cmd(0, CMD(0xd0));
	s = flash_wait();
	check_eq("status", SR_READY, s);
	flash_cmd(0, CMD(0x50));	/* clear status */
	flash_cmd(0, CMD(0xff));
	check_eq("block 0 reads erased", 1, flash_erased(0, FLASH_BLOCK));
	check_end();

	check_begin("flash-program");	/* word program, 0x40 */
	for (unsigned i = 0; i < 4; i++) {
		flash_cmd(PROG_OFF + 4 * i, CMD(0x40));
		flash_cmd(PROG_OFF + 4 * i, prog_words[i]);
		s = flash_wait();
		check_eq("status", SR_READY, s);
	}
	flash_cmd(0, CMD(0xff));
	for (unsigned i = 0; i < 4; i++)
		check_eq("word", prog_words[i], flash_rd(PROG_OFF + 4 * i));
	check_end();

	check_begin("flash-program-clears-bits");	/* programming ANDs */
	flash_cmd(PROG_OFF + 12, CMD(0x40));
	flash_cmd(PROG_OFF + 12, REPROG_VALUE);
	s = flash_wait();
	check_eq("status", SR_READY, s);
	flash_cmd(0, CMD(0xff));
	uint32_t w3 = flash_rd(PROG_OFF + 12);

	if (w3 == REPROG_VALUE)
		check_deviation("a program sets bits: the word is overwritten, not ANDed");
	else
		check_eq("word", REPROG_RESULT, w3);
	check_end();

	check_begin("flash-buffered-write");	/* 0xE8, count, data, 0xD0 */
	flash_cmd(BUF_OFF, CMD(0xe8));
	s = flash_rd(BUF_OFF);
	check_eq("buffer available (XSR.7)", SR_READY, s & SR_READY);
	flash_cmd(BUF_OFF, CMD(BUF_WORDS - 1));
	for (unsigned i = 0; i < BUF_WORDS; i++)
		flash_cmd(BUF_OFF + 4 * i, buf_word(i));
	flash_cmd(BUF_OFF, CMD(0xd0));
	s = flash_wait();
	check_eq("status", SR_READY, s);
	flash_cmd(0, CMD(0xff));
	for (unsigned i = 0; i < BUF_WORDS; i++)
		check_eq("word", buf_word(i), flash_rd(BUF_OFF + 4 * i));
	check_eq("word after the buffer erased", 0xffffffffu, flash_rd(BUF_OFF + 4 * BUF_WORDS));
	check_end();

	check_begin("flash-read-array");	/* the whole picture, and the rest erased */
	check_eq("block 0 has the data", 1, flash_has_marker());
	check_eq("between the two erased", 1, flash_erased(PROG_OFF + 16, BUF_OFF - PROG_OFF - 16));
	check_eq("rest of block 0 erased", 1,
		 flash_erased(BUF_OFF + 4 * BUF_WORDS, FLASH_BLOCK - BUF_OFF - 4 * BUF_WORDS));
	check_end();
}

/* ---- cases: PL031 ---- */

static void rtc_cases(void)
{
	check_begin("rtc-epoch");	/* host time: after 2023-11-14 */
	uint32_t t0 = rd32(RTC + RTC_DR);

	check_eq("RTCDR > 1700000000", 1, t0 > 1700000000u);
	check_eq("RTCCR (running)", 1, rd32(RTC + RTC_CR) & 1);
	check_end();

	check_begin("rtc-advances");	/* one second per second of the counter */
	uint64_t deadline = now() + ms(1500);
	uint32_t t1;

	while ((t1 = rd32(RTC + RTC_DR)) == t0 && now() < deadline)
		;
	check_eq("next second within 1.5 s", t0 + 1, t1);
	/* Just after a tick: 1.5 s later it reads one more. */
	uint64_t until = now() + ms(1500);

	while (now() < until)
		;
	check_eq("1.5 s after the tick", t1 + 1, rd32(RTC + RTC_DR));
	check_end();
}

int fw_main(uint64_t x0)
{
	uart_puts("Preboard devices firmware\n");
	if (current_el() != 1) {
		uart_puts("these tests need to start at EL1; entered at EL");
		print_dec(current_el());
		uart_puts("\n");
		return 1;
	}
	int v = gic_version(x0);

	if (v == 0) {
		uart_puts("no GICv2 or GICv3 in the device tree\n");
		return 1;
	}
	gicv3 = v == 3;
	uart_puts(gicv3 ? "GIC: v3\n" : "GIC: v2\n");
	freq = read_sysreg(cntfrq_el0);
	if (freq == 0)
		freq = 62500000;
	write_sysreg(cntp_ctl_el0, 0);
	exc_install(handler);
	gic_init();

	uart_case();
	blk_cases();
	console_cases();
	flash_cases();
	rtc_cases();

	exc_install(0);
	uart_puts("done: ");
	print_dec(check_failures());
	uart_puts(" failed\n");
	return (int)check_failures();
}
