/*
 * gen_orders.c - order_line events in the manner of the UCI Online Retail data set (a UK
 * wholesaler of gifts, 2010-2011).
 *
 * Lines come in invoices: one invoice_no, customer, country and invoice_date over 1-20
 * consecutive order_line events (other kinds may come in between). Realism kept:
 *  - a catalogue of real products of the data set with their usual unit price and a popularity
 *    weight; unit prices a little higher without a customer id (retail) and lower for 100+;
 *  - quantities as in the data set (1, 2, 3, 4, 6, 12, 24 … 144), small without a customer id;
 *  - customers 12346-18287, each with a fixed country (mostly United Kingdom), about 7 % of them
 *    "loyal" and drawing 45 % of the invoices with a customer; 20 % of invoices have none (null);
 *  - 2 % of invoices are cancellations: "C" + number, customer of an earlier purchase, 1-3 lines
 *    that cancel that purchase's lines (same product and price, quantity negated, sometimes only
 *    part of it), or a single "D" Discount line;
 *  - 1 % of lines on ordinary invoices with a customer are returns (quantity -1 … -6);
 *  - non-product lines: POST (postage, first line of half the invoices outside the UK), DOT
 *    (dotcom postage, some invoices without customer), BANK CHARGES, M (manual), D (discount).
 */
#include "agent/source/gen_internal.h"

#include <stdlib.h>

struct gen_product {
    const char *code;
    const char *desc;
    int32_t cents;
    unsigned weight;
};

static const struct gen_product products[] = {
    {"85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 255, 60},
    {"22423", "REGENCY CAKESTAND 3 TIER", 1275, 45},
    {"85099B", "JUMBO BAG RED RETROSPOT", 195, 45},
    {"47566", "PARTY BUNTING", 495, 35},
    {"20725", "LUNCH BAG RED RETROSPOT", 165, 35},
    {"84879", "ASSORTED COLOUR BIRD ORNAMENT", 169, 34},
    {"22720", "SET OF 3 CAKE TINS PANTRY DESIGN", 495, 28},
    {"21212", "PACK OF 72 RETROSPOT CAKE CASES", 55, 27},
    {"22197", "SMALL POPCORN HOLDER", 85, 24},
    {"23203", "JUMBO BAG DOILEY PATTERNS", 208, 22},
    {"22457", "NATURAL SLATE HEART CHALKBOARD", 295, 22},
    {"22386", "JUMBO BAG PINK POLKADOT", 195, 21},
    {"23298", "SPOTTY BUNTING", 495, 20},
    {"22960", "JAM MAKING SET WITH JARS", 425, 20},
    {"84991", "60 TEATIME FAIRY CAKE CASES", 55, 19},
    {"22469", "HEART OF WICKER SMALL", 165, 19},
    {"22470", "HEART OF WICKER LARGE", 295, 15},
    {"21232", "STRAWBERRY CERAMIC TRINKET BOX", 125, 17},
    {"22666", "RECIPE BOX PANTRY YELLOW DESIGN", 295, 16},
    {"85152", "HAND OVER THE CHOCOLATE SIGN", 210, 15},
    {"22961", "JAM MAKING SET PRINTED", 145, 15},
    {"23084", "RABBIT NIGHT LIGHT", 208, 15},
    {"22629", "SPACEBOY LUNCH BOX", 195, 14},
    {"22659", "LUNCH BOX I LOVE LONDON", 195, 13},
    {"22631", "CIRCUS PARADE LUNCH BOX", 195, 12},
    {"22326", "ROUND SNACK BOXES SET OF4 WOODLAND", 295, 14},
    {"21035", "SET/2 RED RETROSPOT TEA TOWELS", 295, 11},
    {"71053", "WHITE METAL LANTERN", 339, 12},
    {"84406B", "CREAM CUPID HEARTS COAT HANGER", 275, 10},
    {"84029G", "KNITTED UNION FLAG HOT WATER BOTTLE", 339, 10},
    {"84029E", "RED WOOLLY HOTTIE WHITE HEART.", 339, 10},
    {"22752", "SET 7 BABUSHKA NESTING BOXES", 765, 9},
    {"21730", "GLASS STAR FROSTED T-LIGHT HOLDER", 425, 9},
    {"22633", "HAND WARMER UNION JACK", 185, 10},
    {"22632", "HAND WARMER RED POLKA DOT", 185, 9},
    {"22745", "POPPY'S PLAYHOUSE BEDROOM", 210, 8},
    {"22748", "POPPY'S PLAYHOUSE KITCHEN", 210, 8},
    {"22749", "FELTCRAFT PRINCESS CHARLOTTE DOLL", 375, 8},
    {"22310", "IVORY KNITTED MUG COSY", 165, 7},
    {"84969", "BOX OF 6 ASSORTED COLOUR TEASPOONS", 425, 7},
    {"22623", "BOX OF VINTAGE JIGSAW BLOCKS", 495, 8},
    {"22622", "BOX OF VINTAGE ALPHABET BLOCKS", 995, 7},
    {"21754", "HOME BUILDING BLOCK WORD", 595, 8},
    {"21755", "LOVE BUILDING BLOCK WORD", 595, 7},
    {"21756", "BATH BUILDING BLOCK WORD", 595, 6},
    {"21777", "RECIPE BOX WITH METAL HEART", 795, 6},
    {"48187", "DOORMAT NEW ENGLAND", 795, 8},
    {"22913", "RED COAT RACK PARIS FASHION", 495, 6},
    {"22912", "YELLOW COAT RACK PARIS FASHION", 495, 5},
    {"22914", "BLUE COAT RACK PARIS FASHION", 495, 5},
    {"22727", "ALARM CLOCK BAKELIKE RED", 375, 10},
    {"22726", "ALARM CLOCK BAKELIKE GREEN", 375, 9},
    {"22728", "ALARM CLOCK BAKELIKE PINK", 375, 8},
    {"21724", "PANDA AND BUNNIES STICKER SHEET", 85, 6},
    {"21883", "STARS GIFT TAPE", 65, 5},
    {"10002", "INFLATABLE POLITICAL GLOBE", 85, 5},
    {"21791", "VINTAGE HEADS AND TAILS CARD GAME", 125, 6},
    {"84077", "WORLD WAR 2 GLIDERS ASSTD DESIGNS", 29, 12},
    {"22418", "10 COLOUR SPACEBOY PEN", 85, 7},
    {"22492", "MINI PAINT SET VINTAGE", 65, 8},
    {"22383", "LUNCH BAG SUKI DESIGN", 165, 10},
    {"20727", "LUNCH BAG  BLACK SKULL.", 165, 10},
    {"22138", "BAKING SET 9 PIECE RETROSPOT", 495, 11},
    {"23209", "LUNCH BAG VINTAGE DOILY", 165, 8},
    {"21931", "JUMBO STORAGE BAG SUKI", 195, 10},
};
#define GEN_N_PRODUCTS (sizeof products / sizeof products[0])

enum { SP_POST, SP_DOT, SP_MANUAL, SP_BANK, SP_DISCOUNT };
static const struct {
    const char *code;
    const char *desc;
} specials[] = {
    [SP_POST] = {"POST", "POSTAGE"},   [SP_DOT] = {"DOT", "DOTCOM POSTAGE"},
    [SP_MANUAL] = {"M", "Manual"},     [SP_BANK] = {"BANK CHARGES", "Bank Charges"},
    [SP_DISCOUNT] = {"D", "Discount"},
};

/* Country of a customer (weights per 1000 customers); index 0 must stay the United Kingdom. */
static const struct {
    const char *name;
    unsigned customers; /* weight among customers with an id */
    unsigned anonymous; /* weight among invoices without one */
} countries[] = {
    {"United Kingdom", 872, 960},
    {"Germany", 24, 0},
    {"France", 22, 4},
    {"EIRE", 8, 12},
    {"Spain", 8, 0},
    {"Belgium", 6, 0},
    {"Switzerland", 5, 4},
    {"Portugal", 5, 0},
    {"Netherlands", 4, 0},
    {"Italy", 4, 0},
    {"Finland", 3, 0},
    {"Norway", 3, 0},
    {"Australia", 3, 0},
    {"Austria", 3, 0},
    {"Denmark", 3, 0},
    {"Sweden", 2, 0},
    {"Channel Islands", 2, 0},
    {"Cyprus", 2, 0},
    {"Japan", 2, 0},
    {"Poland", 2, 0},
    {"USA", 2, 0},
    {"Israel", 1, 2},
    {"Canada", 1, 0},
    {"Greece", 1, 0},
    {"Iceland", 1, 0},
    {"Singapore", 1, 0},
    {"Malta", 1, 0},
    {"Lithuania", 1, 0},
    {"Brazil", 1, 0},
    {"Czech Republic", 1, 0},
    {"Bahrain", 1, 2},
    {"Saudi Arabia", 1, 0},
    {"United Arab Emirates", 1, 0},
    {"RSA", 1, 0},
    {"Lebanon", 1, 0},
    {"European Community", 1, 0},
    {"Hong Kong", 0, 16},
    {"Unspecified", 0, 2},
};
#define GEN_N_COUNTRIES (sizeof countries / sizeof countries[0])

static const struct {
    int16_t qty;
    unsigned weight;
} quantities[] = {
    {1, 140}, {2, 140},  {3, 60},  {4, 90},  {5, 20},   {6, 110}, {8, 30},
    {10, 60}, {12, 190}, {16, 10}, {20, 20}, {24, 60},  {25, 20}, {36, 10},
    {48, 20}, {72, 10},  {96, 10}, {100, 8}, {144, 10},
};
#define GEN_N_QTY (sizeof quantities / sizeof quantities[0])

#define GEN_CUSTOMER_MIN 12346
#define GEN_CUSTOMER_MAX 18287

static uint64_t customer_hash(int id)
{
    return ag_gen__mix((uint64_t)id * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
}

int ag_gen__orders_init(struct ag_gen *g, uint64_t salt)
{
    unsigned w[GEN_N_PRODUCTS > GEN_N_COUNTRIES ? GEN_N_PRODUCTS : GEN_N_COUNTRIES];

    for (size_t i = 0; i < GEN_N_PRODUCTS; i++)
        w[i] = products[i].weight;
    ag_gen__wtab(g->product_tab, w, GEN_N_PRODUCTS);
    for (size_t i = 0; i < GEN_N_COUNTRIES; i++)
        w[i] = countries[i].customers;
    ag_gen__wtab(g->country_tab, w, GEN_N_COUNTRIES);
    for (size_t i = 0; i < GEN_N_COUNTRIES; i++)
        w[i] = countries[i].anonymous;
    ag_gen__wtab(g->anon_country_tab, w, GEN_N_COUNTRIES);
    for (size_t i = 0; i < GEN_N_QTY; i++)
        w[i] = quantities[i].weight;
    ag_gen__wtab(g->qty_tab, w, GEN_N_QTY);

    /* The customer population and who is loyal do not depend on the seed: every device sells
     * to the same customers. */
    g->n_loyal = 0;
    for (int id = GEN_CUSTOMER_MIN; id <= GEN_CUSTOMER_MAX; id++)
        if ((customer_hash(id) >> 32) % 100 < 7 && g->n_loyal < 1024)
            g->loyal[g->n_loyal++] = id;
    /* Invoice numbers start where the data set's do, in one of 4096 bands per device. */
    g->invoice_next = 536365 + (salt % 4096) * 100000;
    g->inv.lines_left = 0;
    return 0;
}

static int customer_country(const struct ag_gen *g, int id)
{
    return g->country_tab[customer_hash(id) >> 54];
}

/* A cancellation of an earlier purchase from the ring; 0 when there is none to cancel. */
static int invoice_cancel(struct ag_gen *g, struct ag_gen__invoice *inv)
{
    unsigned at, n = 1;
    const struct ag_gen__buy *b;

    if (!g->n_buys)
        return 0;
    at = (unsigned)hc_rng_range(&g->rng, 0, g->n_buys - 1);
    b = &g->buys[at];
    inv->cancel = 1;
    inv->customer = b->customer;
    inv->country = b->country;
    inv->bought_no = b->invoice;
    inv->buy_at = (int)at;
    if (hc_rng_chance(&g->rng, 0.08)) {
        inv->special = SP_DISCOUNT;
        inv->lines_left = 1;
        return 1;
    }
    /* Up to 3 lines of the same purchase, which sit next to each other in the ring. */
    for (unsigned i = (at + 1) % AG_GEN__BUY_RING; n < 3 && i != g->buy_pos && i < g->n_buys;
         i = (i + 1) % AG_GEN__BUY_RING, n++)
        if (g->buys[i].invoice != b->invoice)
            break;
    inv->lines_left = (int)hc_rng_range(&g->rng, 1, n);
    return 1;
}

static void invoice_start(struct ag_gen *g)
{
    struct ag_gen__invoice *inv = &g->inv;
    uint64_t no = g->invoice_next++;
    char *p;

    inv->special = -1;
    inv->cancel = 0;
    if (!hc_rng_chance(&g->rng, 0.02) || !invoice_cancel(g, inv)) {
        if (hc_rng_chance(&g->rng, 0.2)) {
            inv->customer = 0;
            inv->country = ag_gen__pick(g, g->anon_country_tab);
        } else {
            if (g->n_loyal && hc_rng_chance(&g->rng, 0.45))
                inv->customer = g->loyal[hc_rng_range(&g->rng, 0, g->n_loyal - 1)];
            else
                inv->customer = (int)hc_rng_range(&g->rng, GEN_CUSTOMER_MIN, GEN_CUSTOMER_MAX);
            inv->country = customer_country(g, inv->customer);
        }
        inv->lines_left = hc_rng_chance(&g->rng, 0.15) ? 1 : (int)hc_rng_range(&g->rng, 2, 20);
        if (inv->country != 0 && inv->customer && hc_rng_chance(&g->rng, 0.5))
            inv->special = SP_POST;
        else if (!inv->customer && hc_rng_chance(&g->rng, 0.12))
            inv->special = SP_DOT;
        else if (hc_rng_chance(&g->rng, 0.004))
            inv->special = SP_BANK;
        if (inv->special >= 0 && inv->lines_left < 20)
            inv->lines_left++;
    }
    p = inv->no;
    if (inv->cancel)
        *p++ = 'C';
    {
        char tmp[24], *t = tmp + sizeof tmp;
        do {
            *--t = (char)('0' + no % 10);
            no /= 10;
        } while (no);
        memcpy(p, t, (size_t)(tmp + sizeof tmp - t));
        p += tmp + sizeof tmp - t;
    }
    inv->no_len = (size_t)(p - inv->no);
    inv->date_ms = ag_gen__event_ms(g);
    hc_time_format(inv->date_ms, inv->date);
}

struct gen_line {
    const char *code;
    const char *desc;
    int64_t qty;
    int64_t cents;
    int product; /* catalogue index, -1 for a non-product line */
};

static void line_special(struct ag_gen *g, int sp, struct gen_line *l)
{
    l->code = specials[sp].code;
    l->desc = specials[sp].desc;
    l->product = -1;
    switch (sp) {
    case SP_POST:
        l->qty = hc_rng_range(&g->rng, 1, 3);
        l->cents = hc_rng_chance(&g->rng, 0.8) ? 1800 : 4000;
        break;
    case SP_DOT:
        l->qty = 1;
        l->cents = hc_rng_range(&g->rng, 5000, 90000);
        break;
    case SP_MANUAL:
        l->qty = hc_rng_range(&g->rng, 1, 12);
        l->cents = hc_rng_range(&g->rng, 19, 5000);
        break;
    case SP_BANK:
        l->qty = 1;
        l->cents = 1500;
        break;
    default: /* SP_DISCOUNT */
        l->qty = -1;
        l->cents = hc_rng_range(&g->rng, 500, 6000);
        break;
    }
}

static void line_cancel(struct ag_gen *g, struct gen_line *l)
{
    struct ag_gen__invoice *inv = &g->inv;
    const struct ag_gen__buy *b = &g->buys[inv->buy_at];

    inv->buy_at = (inv->buy_at + 1) % AG_GEN__BUY_RING;
    l->product = b->product;
    l->code = products[b->product].code;
    l->desc = products[b->product].desc;
    l->cents = b->price_cents;
    l->qty = b->qty > 1 && hc_rng_chance(&g->rng, 0.3) ? -hc_rng_range(&g->rng, 1, b->qty - 1)
                                                       : -(int64_t)b->qty;
}

static void line_product(struct ag_gen *g, struct gen_line *l)
{
    const struct ag_gen__invoice *inv = &g->inv;
    const struct gen_product *p;

    l->product = (int)ag_gen__pick(g, g->product_tab);
    p = &products[l->product];
    l->code = p->code;
    l->desc = p->desc;
    l->cents = p->cents;
    if (!inv->customer) {
        l->qty = hc_rng_range(&g->rng, 1, 4);
        l->cents = (p->cents * 117 + 50) / 100;
        return;
    }
    l->qty = quantities[ag_gen__pick(g, g->qty_tab)].qty;
    if (l->qty >= 100)
        l->cents = (p->cents * 85 + 50) / 100;
    if (hc_rng_chance(&g->rng, 0.01)) {
        l->qty = -hc_rng_range(&g->rng, 1, 6); /* a return on an ordinary invoice */
        return;
    }
    /* Remember the purchase for a later cancellation. */
    {
        struct ag_gen__buy *b = &g->buys[g->buy_pos];
        b->invoice = g->invoice_next - 1;
        b->customer = inv->customer;
        b->country = (uint8_t)inv->country;
        b->product = (uint8_t)l->product;
        b->qty = (int16_t)l->qty;
        b->price_cents = (int32_t)l->cents;
        g->buy_pos = (g->buy_pos + 1) % AG_GEN__BUY_RING;
        if (g->n_buys < AG_GEN__BUY_RING)
            g->n_buys++;
    }
}

/* The malformed knob: which field goes (MISSING) or how the line is broken. */
static void line_break(struct ag_gen *g, struct ag_gen__w *w)
{
    static const enum ag_gen__bad how[] = {AG_GEN__BAD_MISSING, AG_GEN__BAD_TYPE,
                                           AG_GEN__BAD_NEGATIVE, AG_GEN__BAD_TIME};
    static const int required[] = {0, 1, 3, 4, 5, 7}; /* invoice_no … country, see below */

    g->bad = how[g->bad_pick % 4];
    if (g->bad == AG_GEN__BAD_MISSING)
        w->omit = required[(g->bad_pick >> 8) % 6];
}

void ag_gen__order_line(struct ag_gen *g, struct ag_gen__w *w)
{
    struct ag_gen__invoice *inv = &g->inv;
    struct gen_line l;

    if (inv->lines_left <= 0)
        invoice_start(g);
    inv->lines_left--;
    if (inv->special >= 0) {
        line_special(g, inv->special, &l);
        inv->special = -1;
    } else if (inv->cancel) {
        line_cancel(g, &l);
    } else if (hc_rng_chance(&g->rng, 0.003)) {
        line_special(g, SP_MANUAL, &l);
    } else {
        line_product(g, &l);
    }
    g->ev_ms = inv->date_ms;
    g->touched = -1;
    if (g->bad)
        line_break(g, w);

    if (ag_gen__key(w, "invoice_no")) /* 0 */
        ag_gen__str(w, inv->no, inv->no_len);
    if (ag_gen__key(w, "stock_code")) /* 1 */
        ag_gen__cstr(w, l.code);
    if (ag_gen__key(w, "description")) /* 2 */
        ag_gen__cstr(w, l.desc);
    if (ag_gen__key(w, "quantity")) { /* 3 */
        if (g->bad == AG_GEN__BAD_TYPE && !(g->bad_pick & 0x10000))
            ag_gen__cstr(w, (g->bad_pick & 0x20000) ? "twelve" : "6 pcs");
        else
            ag_gen__i64(w, l.qty);
    }
    if (ag_gen__key(w, "unit_price")) { /* 4 */
        if (g->bad == AG_GEN__BAD_NEGATIVE)
            ag_gen__cents(w, -(l.cents ? l.cents : 255));
        else if (g->bad == AG_GEN__BAD_TYPE && (g->bad_pick & 0x10000))
            ag_gen__cstr(w, "2,55"); /* a decimal comma */
        else
            ag_gen__cents(w, l.cents);
    }
    if (ag_gen__key(w, "invoice_date")) { /* 5 */
        if (g->bad == AG_GEN__BAD_TIME)
            ag_gen__bad_time(g, w);
        else
            ag_gen__str(w, inv->date, 24);
    }
    if (ag_gen__key(w, "customer_id")) { /* 6 */
        if (inv->customer) {
            *w->p++ = '"';
            ag_gen__u64(w, (uint64_t)inv->customer);
            *w->p++ = '"';
        } else {
            ag_gen__put(w, "null", 4);
        }
    }
    if (ag_gen__key(w, "country")) /* 7 */
        ag_gen__cstr(w, countries[inv->country].name);
}
