"""Given-name equivalences used by the "nickname" comparison level: Bob is Robert, Peggy is Margaret.

A name may belong to several groups (Alex: Alexander and Alexandra; Sam: Samuel and Samantha), so a
record carries the set of its groups and two names agree when the sets meet. Spelling variants
(Claire/Clare, Tracy/Tracey) are left to the Jaro–Winkler level. Changing this table changes the
comparison data, so a model trained before the change must be retrained (its version says which).
"""

from __future__ import annotations

# canonical name -> its familiar forms (upper case, letters only: the form `features.normalise_name` gives)
NICKNAMES: dict[str, tuple[str, ...]] = {
    # men
    "ALEXANDER": ("ALEX", "ALEC", "SANDY", "XANDER", "LEX"),
    "ALFRED": ("ALF", "ALFIE", "FRED", "FREDDIE"),
    "ALBERT": ("AL", "BERT", "BERTIE"),
    "ANDREW": ("ANDY", "DREW"),
    "ANTHONY": ("TONY", "ANT"),
    "ANTONY": ("TONY", "ANT"),
    "ARTHUR": ("ART", "ARTIE"),
    "BARRY": ("BAZ",),
    "BENJAMIN": ("BEN", "BENNY", "BENJI"),
    "BERNARD": ("BERNIE", "BERN"),
    "BRADLEY": ("BRAD",),
    "CALLUM": ("CAL",),
    "CAMERON": ("CAM",),
    "CHARLES": ("CHARLIE", "CHAS", "CHUCK", "CHAZ"),
    "CHRISTIAN": ("CHRIS",),
    "CHRISTOPHER": ("CHRIS", "KIT", "TOPHER"),
    "CLIFFORD": ("CLIFF",),
    "DANIEL": ("DAN", "DANNY"),
    "DAVID": ("DAVE", "DAVY", "DAI"),
    "DONALD": ("DON", "DONNIE"),
    "DOUGLAS": ("DOUG", "DOUGIE"),
    "EDWARD": ("ED", "EDDIE", "TED", "TEDDY", "NED"),
    "FRANCIS": ("FRANK", "FRAN"),
    "FRANKLIN": ("FRANK",),
    "FREDERICK": ("FRED", "FREDDIE", "FREDDY"),
    "GEOFFREY": ("GEOFF",),
    "GERALD": ("GERRY", "JERRY", "GED"),
    "GERARD": ("GERRY", "GED"),
    "GREGORY": ("GREG",),
    "HARRY": ("HAL",),
    "HENRY": ("HARRY", "HAL", "HANK"),
    "JACOB": ("JAKE", "JAKOB"),
    "JAMES": ("JIM", "JIMMY", "JAMIE", "JIMMIE"),
    "JEFFREY": ("JEFF",),
    "JEREMY": ("JEZ", "JERRY"),
    "JOHN": ("JACK", "JOHNNY", "JON"),
    "JONATHAN": ("JON", "JONNY", "NATHAN"),
    "JOSEPH": ("JOE", "JOEY", "JOSE"),
    "JOSHUA": ("JOSH",),
    "KENNETH": ("KEN", "KENNY"),
    "LAWRENCE": ("LARRY", "LAURIE", "LOL"),
    "LEONARD": ("LEN", "LENNY", "LEO"),
    "LESLIE": ("LES",),
    "LEWIS": ("LOU",),
    "LOUIS": ("LOU",),
    "MALCOLM": ("MAL",),
    "MATTHEW": ("MATT", "MATTY"),
    "MATHEW": ("MATT", "MATTY"),
    "MAXWELL": ("MAX",),
    "MICHAEL": ("MIKE", "MICK", "MICKY", "MIKEY", "MITCH"),
    "MITCHELL": ("MITCH",),
    "MOHAMMED": ("MO", "MOHAMED", "MOHAMMAD", "MUHAMMAD"),
    "NATHAN": ("NATE", "NAT"),
    "NICHOLAS": ("NICK", "NICKY", "NICO"),
    "NIGEL": ("NIGE",),
    "NORMAN": ("NORM",),
    "OLIVER": ("OLLIE", "OLLY"),
    "PATRICK": ("PAT", "PADDY"),
    "PETER": ("PETE",),
    "PHILIP": ("PHIL", "PIP"),
    "PHILLIP": ("PHIL",),
    "RAYMOND": ("RAY",),
    "RICHARD": ("RICH", "RICK", "RICKY", "DICK", "RICHIE"),
    "ROBERT": ("BOB", "BOBBY", "ROB", "ROBBIE", "BERT"),
    "ROBIN": ("ROB",),
    "RONALD": ("RON", "RONNIE"),
    "RUSSELL": ("RUSS",),
    "SAMUEL": ("SAM", "SAMMY"),
    "STANLEY": ("STAN",),
    "STEPHEN": ("STEVE", "STEVIE"),
    "STEVEN": ("STEVE", "STEVIE"),
    "STEWART": ("STU",),
    "STUART": ("STU",),
    "TERENCE": ("TERRY", "TEL"),
    "THEODORE": ("THEO", "TED", "TEDDY"),
    "THOMAS": ("TOM", "TOMMY"),
    "TIMOTHY": ("TIM", "TIMMY"),
    "TOBIAS": ("TOBY",),
    "VICTOR": ("VIC",),
    "VINCENT": ("VINCE", "VINNY"),
    "WILLIAM": ("BILL", "BILLY", "WILL", "WILLIE", "WILLS", "LIAM"),
    # women
    "ABIGAIL": ("ABBIE", "ABBY", "ABI", "GAIL"),
    "ALEXANDRA": ("ALEX", "LEXI", "SANDRA", "SANDY", "ALI"),
    "ALISON": ("ALI",),
    "AMANDA": ("MANDY", "MANDA"),
    "ANN": ("ANNIE", "NAN", "NANCY"),
    "ANNE": ("ANNIE", "NAN", "NANCY"),
    "BARBARA": ("BARB", "BABS"),
    "BETHANY": ("BETH",),
    "BEVERLEY": ("BEV",),
    "CAROLINE": ("CARO", "CARRIE", "CAROL", "CARLY"),
    "CAROLYN": ("CARRIE", "CAROL"),
    "CATHERINE": ("CATH", "CATHY", "KATE", "KATIE", "KATY", "KAY", "KITTY"),
    "CHARLOTTE": ("CHARLIE", "LOTTIE", "LOTTE"),
    "CHRISTINE": ("CHRIS", "CHRISSIE", "TINA"),
    "DEBORAH": ("DEBBIE", "DEB", "DEBS"),
    "DEBRA": ("DEBBIE", "DEB", "DEBS"),
    "DOROTHY": ("DOT", "DOTTIE", "DOLLY"),
    "ELEANOR": ("ELLIE", "NELL", "NELLIE", "NORA", "ELLA"),
    "ELIZABETH": ("LIZ", "LIZZIE", "BETH", "BETTY", "BESS", "BESSIE", "ELIZA", "LIBBY", "ELSIE", "LISA"),
    "FRANCES": ("FRAN", "FRANNIE", "FANNY"),
    "FRANCESCA": ("FRAN", "FRANKIE", "CESCA"),
    "GEORGINA": ("GEORGIE", "GINA"),
    "GILLIAN": ("GILL", "JILL", "GILLY"),
    "HARRIET": ("HATTIE", "HETTY"),
    "JACQUELINE": ("JACKIE", "JACQUI"),
    "JANET": ("JAN",),
    "JENNIFER": ("JENNY", "JEN", "JENNI"),
    "JESSICA": ("JESS", "JESSIE"),
    "JOANNA": ("JO",),
    "JOANNE": ("JO",),
    "JOSEPHINE": ("JO", "JOSIE", "JOSIE", "JOE"),
    "JUDITH": ("JUDY", "JUDE"),
    "KATHERINE": ("KATE", "KATIE", "KATY", "KATH", "KATHY", "KAY", "KIT"),
    "KATHLEEN": ("KATH", "KATHY", "KATE"),
    "KATHRYN": ("KATE", "KATIE", "KATY", "KATH", "KATHY"),
    "KIMBERLEY": ("KIM",),
    "MARGARET": ("PEGGY", "MAGGIE", "MEG", "MEGAN", "MAGS", "MADGE", "MARGE", "RITA", "GRETA", "DAISY", "MAISIE"),
    "MARY": ("MOLLY", "POLLY", "MAMIE", "MAE"),
    "MARIAN": ("MARION",),
    "NATALIE": ("NAT", "NATTIE"),
    "NATASHA": ("TASHA", "NAT"),
    "NICOLA": ("NICKY", "NIKKI", "NIC"),
    "NICOLE": ("NICKY", "NIKKI", "NIC"),
    "OLIVIA": ("LIV", "LIVVY", "OLLIE"),
    "PAMELA": ("PAM",),
    "PATRICIA": ("PAT", "PATSY", "PATTY", "TRISH", "TRICIA"),
    "REBECCA": ("BECKY", "BECCA", "BEX"),
    "ROSEMARY": ("ROSIE", "ROSE", "ROSIE"),
    "SAMANTHA": ("SAM", "SAMMY", "SAMMIE"),
    "SANDRA": ("SANDY", "SANDIE"),
    "SARAH": ("SALLY", "SAL", "SADIE"),
    "SARA": ("SALLY", "SAL"),
    "STEPHANIE": ("STEPH", "STEFF"),
    "SUSAN": ("SUE", "SUSIE", "SUZY"),
    "SUZANNE": ("SUE", "SUZY", "SUZIE"),
    "TERESA": ("TESS", "TESSA", "TERRI", "TERRY"),
    "VALERIE": ("VAL",),
    "VICTORIA": ("VICKY", "VICKI", "TORI", "VIC"),
    "WENDY": ("WEN",),
}


def _groups() -> dict[str, tuple[str, ...]]:
    groups: dict[str, set[str]] = {}
    for canonical, familiar in NICKNAMES.items():
        groups.setdefault(canonical, set()).add(canonical)
        for name in familiar:
            groups.setdefault(name, set()).add(canonical)
    return {name: tuple(sorted(found)) for name, found in groups.items()}


# name -> the canonical names it may stand for (a canonical name stands for itself)
NAME_GROUPS: dict[str, tuple[str, ...]] = _groups()


def name_groups(name: str | None) -> tuple[str, ...]:
    """The canonical names `name` may stand for; empty when the table does not know it."""
    if not name:
        return ()
    return NAME_GROUPS.get(name, ())
