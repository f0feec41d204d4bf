//! The labelled data set of the dedupe evaluation: realistic people at realistic companies, then
//! the records a CRM really receives of them — duplicates with typos, nicknames, swapped names, Gmail
//! dot and plus variants, case changes, a missing email or phone, a new address, company name
//! variants — and distinct-but-similar records that must stay apart (colleagues at one company,
//! namesakes, companies sharing a brand word: "Acme Robotics" / "Acme Labs", colleagues giving the
//! office switchboard as their phone). Every record carries its true person and account.
//!
//! The rates below are guesses at a B2B inbound mix, fixed before measuring; they decide the
//! numbers the evaluation reports, so change them deliberately.

use std::collections::HashSet;

use speedlead_actors::dedupe::match_email_key;
use speedlead_topics::Contact;

/// One record of the stream, with the truth about it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledRecord {
    pub source: &'static str,
    pub event_id: String,
    /// As the source delivered it (email case and spaces included; phone already E.164).
    pub contact: Contact,
    pub person: usize,
    pub account: usize,
    /// How the record's contact was derived from the person: `original`, or the duplicate variant
    /// (`same_email`, `email_case`, `gmail_variant`, `plus_tag`, `no_email`, `other_email`,
    /// `email_typo`).
    pub contact_kind: &'static str,
    /// How its company name was written: `canonical`, `no_suffix`, `shouted`, `lowercase`, `the_company`,
    /// `typo`, `missing`.
    pub company_kind: &'static str,
}

const SOURCES: &[&str] = &["web-form", "meta-ads", "hubspot", "typeform", "linkedin"];

/// First names with the nicknames people also sign up with.
const FIRST_NAMES: &[(&str, &[&str])] = &[
    ("Robert", &["Bob", "Rob", "Bobby"]),
    ("William", &["Bill", "Will", "Liam"]),
    ("Katherine", &["Kate", "Katie", "Kathy"]),
    ("Elizabeth", &["Liz", "Beth", "Eliza"]),
    ("Michael", &["Mike", "Mick"]),
    ("Jennifer", &["Jen", "Jenny"]),
    ("James", &["Jim", "Jamie"]),
    ("Margaret", &["Maggie", "Peggy"]),
    ("Alexander", &["Alex", "Sasha"]),
    ("Daniel", &["Dan", "Danny"]),
    ("Christopher", &["Chris"]),
    ("Patricia", &["Pat", "Trish"]),
    ("Anthony", &["Tony"]),
    ("Susan", &["Sue"]),
    ("Hiroshi", &["Hiro"]),
    ("Mohammed", &["Mo"]),
    ("Ana", &[]),
    ("Priya", &[]),
    ("Olga", &[]),
    ("Diego", &[]),
    ("Ines", &[]),
    ("Kemi", &[]),
    ("Jonas", &[]),
    ("Farid", &[]),
    ("Chloe", &[]),
    ("Noah", &[]),
    ("Mei", &[]),
    ("Lars", &[]),
];

const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Lopez", "Garcia", "Carter", "Park", "Silva", "Weber", "Haddad", "Kim", "Tanaka",
    "Moreau", "Berg", "Adeyemi", "Walsh", "Rossi", "Novak", "Ivanova", "Shah", "Muller", "Nguyen", "Brown",
    "Jensen", "Kowalski", "Okafor", "Fischer", "Dubois", "Santos", "Yamamoto", "OBrien",
];

/// Brand words; a company is a brand and a sector, so brands recur across distinct companies.
const BRANDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tyrell",
    "Wayne",
    "Stark",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Aperture",
    "Oscorp",
    "Monarch",
    "Sirius",
    "Prestige",
    "Zenith",
    "Vertex",
    "Pinnacle",
    "Summit",
    "Horizon",
    "Apex",
    "Nimbus",
    "Quantum",
    "Stellar",
    "Evergreen",
    "Bluebird",
    "Redwood",
    "Ironclad",
    "Silverline",
    "Goldcrest",
    "Brightway",
    "Clearwater",
    "Northstar",
    "Lakeside",
    "Oakridge",
    "Maple",
    "Falcon",
    "Osprey",
    "Harbor",
    "Beacon",
    "Keystone",
    "Sterling",
    "Paragon",
    "Meridian",
    "Atlas",
    "Orion",
    "Polaris",
    "Lumen",
    "Kestrel",
];

const SECTORS: &[&str] = &[
    "Robotics",
    "Labs",
    "Logistics",
    "Health",
    "Foods",
    "Systems",
    "Analytics",
    "Capital",
    "Media",
    "Energy",
    "Software",
    "Consulting",
    "Insurance",
    "Textiles",
    "Pharma",
    "Networks",
];

/// Legal form and the top-level domain a company of that form tends to have.
const LEGAL_FORMS: &[(&str, &str)] = &[
    ("Inc.", "com"),
    ("LLC", "com"),
    ("Corp.", "com"),
    ("GmbH", "de"),
    ("AG", "ch"),
    ("Ltd", "co.uk"),
    ("PLC", "co.uk"),
    ("S.A.", "fr"),
    ("B.V.", "nl"),
    ("Pty Ltd", "com.au"),
    ("", "io"),
];

/// Free-mail domains people sign up with; Gmail listed thrice, as the most common by far.
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "gmx.de",
    "web.de",
    "aol.com",
    "yahoo.co.uk",
];

const TITLES: &[&str] = &["VP Sales", "Head of Ops", "CTO", "Office Manager", "Engineer", "CFO", "Founder"];

struct Company {
    brand: &'static str,
    sector: &'static str,
    legal: &'static str,
    domain: String,
    /// The switchboard some employees give instead of their own number.
    main_line: String,
}

struct Person {
    first: usize,
    last: &'static str,
    account: usize,
    email: String,
    phone: Option<String>,
    title: &'static str,
}

/// Generates the stream for `people` people (duplicates included, in random order); the same seed
/// gives the same records.
pub fn generate(seed: u64, people: usize) -> Vec<LabelledRecord> {
    let mut g =
        Generator { rng: fastrand::Rng::with_seed(seed), emails: HashSet::new(), phones: HashSet::new() };
    let companies = g.companies(people.div_ceil(3));
    let persons: Vec<Person> = (0..people).map(|_| g.person(&companies)).collect();
    let mut records = Vec::new();
    for (id, person) in persons.iter().enumerate() {
        records.push(g.record(id, person, &companies[person.account], true));
        let duplicates = match g.rng.u8(..100) {
            0..45 => 0,
            45..75 => 1,
            75..90 => 2,
            _ => 3,
        };
        for _ in 0..duplicates {
            records.push(g.record(id, person, &companies[person.account], false));
        }
    }
    g.rng.shuffle(&mut records);
    for (i, record) in records.iter_mut().enumerate() {
        record.event_id = format!("evt-{i}");
    }
    records
}

struct Generator {
    rng: fastrand::Rng,
    /// Mailboxes (match keys) and phones handed out, so two people never share one by accident.
    emails: HashSet<String>,
    phones: HashSet<String>,
}

impl Generator {
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.rng.usize(..from.len())]
    }

    fn companies(&mut self, wanted: usize) -> Vec<Company> {
        let mut pairs: Vec<(usize, usize)> =
            (0..BRANDS.len()).flat_map(|b| (0..SECTORS.len()).map(move |s| (b, s))).collect();
        self.rng.shuffle(&mut pairs);
        pairs.truncate(wanted.max(1));
        pairs
            .into_iter()
            .map(|(b, s)| {
                let (brand, sector) = (BRANDS[b], SECTORS[s]);
                let (legal, tld) = self.pick(LEGAL_FORMS);
                let joiner = if self.rng.bool() { "" } else { "-" };
                let domain = format!("{}{joiner}{}.{tld}", brand.to_lowercase(), sector.to_lowercase());
                let main_line = self.unique_phone();
                Company { brand, sector, legal, domain, main_line }
            })
            .collect()
    }

    fn unique_phone(&mut self) -> String {
        loop {
            let phone = match self.rng.u8(..4) {
                0 => format!("+1{}{:07}", self.rng.u16(201..990), self.rng.u32(..10_000_000)),
                1 => format!("+447{:09}", self.rng.u32(..1_000_000_000)),
                2 => format!("+4915{:09}", self.rng.u32(..1_000_000_000)),
                _ => format!("+346{:08}", self.rng.u32(..100_000_000)),
            };
            if self.phones.insert(phone.clone()) {
                return phone;
            }
        }
    }

    /// An address on `domain` whose mailbox nobody has yet, in one of the usual local-part styles.
    fn unique_email(&mut self, first: &str, last: &str, domain: &str) -> String {
        let (f, l) = (first.to_lowercase(), last.to_lowercase());
        let local = match self.rng.u8(..4) {
            0 => format!("{f}.{l}"),
            1 => format!("{}{l}", &f[..1]),
            2 => format!("{f}{l}"),
            _ => format!("{f}.{l}{}", self.rng.u8(1..99)),
        };
        let mut n = 1;
        loop {
            let email = if n == 1 { format!("{local}@{domain}") } else { format!("{local}{n}@{domain}") };
            if self.emails.insert(match_email_key(&email)) {
                return email;
            }
            n += 1;
        }
    }

    fn person(&mut self, companies: &[Company]) -> Person {
        let first = self.rng.usize(..FIRST_NAMES.len());
        let last = self.pick(LAST_NAMES);
        let account = self.rng.usize(..companies.len());
        let domain = if self.rng.u8(..100) < 70 {
            companies[account].domain.clone()
        } else {
            self.pick(FREE_MAIL).into()
        };
        let email = self.unique_email(FIRST_NAMES[first].0, last, &domain);
        let phone = match self.rng.u8(..100) {
            0..5 => Some(companies[account].main_line.clone()),
            5..85 => Some(self.unique_phone()),
            _ => None,
        };
        Person { first, last, account, email, phone, title: self.pick(TITLES) }
    }

    fn record(&mut self, id: usize, person: &Person, company: &Company, original: bool) -> LabelledRecord {
        let (contact_kind, email, phone) =
            if original { self.original_contact(person) } else { self.duplicate_contact(person) };
        let (company_kind, company_name) = self.company_name(company, original);
        let title = if original || self.rng.u8(..100) < 85 { person.title } else { self.pick(TITLES) };
        LabelledRecord {
            source: self.pick(SOURCES),
            event_id: String::new(),
            contact: Contact {
                name: Some(self.name(person, original)),
                email,
                phone,
                company: company_name,
                title: Some(title.into()),
                country: None,
            },
            person: id,
            account: person.account,
            contact_kind,
            company_kind,
        }
    }

    fn original_contact(&mut self, person: &Person) -> (&'static str, Option<String>, Option<String>) {
        let with_phone = person.phone.is_some() && self.rng.u8(..100) < 70;
        ("original", Some(person.email.clone()), person.phone.clone().filter(|_| with_phone))
    }

    fn duplicate_contact(&mut self, person: &Person) -> (&'static str, Option<String>, Option<String>) {
        let phone = person.phone.clone().filter(|_| self.rng.u8(..100) < 60);
        let (local, domain) = person.email.split_once('@').expect("generated addresses have an @");
        match self.rng.u8(..100) {
            0..30 => ("same_email", Some(person.email.clone()), phone),
            30..40 => {
                ("email_case", Some(format!(" {}@{} ", capitalized(local), domain.to_uppercase())), phone)
            }
            40..50 if domain == "gmail.com" => ("gmail_variant", Some(self.gmail_variant(local)), phone),
            40..55 => {
                let tag = self.pick(&["news", "webinar", "crm", "events"]);
                let separator = if domain.starts_with("yahoo") { '-' } else { '+' };
                ("plus_tag", Some(format!("{local}{separator}{tag}@{domain}")), phone)
            }
            55..70 if person.phone.is_some() => ("no_email", None, person.phone.clone()),
            70..85 => {
                let (first, last) = (FIRST_NAMES[person.first].0, person.last);
                let domain = self.pick(FREE_MAIL);
                ("other_email", Some(self.unique_email(first, last, domain)), phone)
            }
            85..90 => ("email_typo", Some(format!("{}@{domain}", self.typo(local))), phone),
            _ => ("same_email", Some(person.email.clone()), phone),
        }
    }

    /// The same Gmail mailbox written differently: dots moved, a `+tag`, or `googlemail.com`.
    fn gmail_variant(&mut self, local: &str) -> String {
        let undotted: String = local.chars().filter(|&c| c != '.').collect();
        let at = self.rng.usize(1..undotted.len().max(2));
        let dotted =
            format!("{}.{}", &undotted[..at.min(undotted.len())], &undotted[at.min(undotted.len())..]);
        match self.rng.u8(..3) {
            0 => format!("{undotted}@gmail.com"),
            1 => format!("{dotted}+promo@gmail.com"),
            _ => format!("{local}@googlemail.com"),
        }
    }

    fn name(&mut self, person: &Person, original: bool) -> String {
        let (first, nicknames) = FIRST_NAMES[person.first];
        if original {
            return format!("{first} {}", person.last);
        }
        match self.rng.u8(..100) {
            0..20 if !nicknames.is_empty() => format!("{} {}", self.pick(nicknames), person.last),
            20..30 => format!("{}, {first}", person.last),
            30..40 => format!("{} {}", self.typo(first), person.last),
            40..50 => format!("{first} {}", person.last).to_uppercase(),
            _ => format!("{first} {}", person.last),
        }
    }

    fn company_name(&mut self, company: &Company, original: bool) -> (&'static str, Option<String>) {
        let base = format!("{} {}", company.brand, company.sector);
        let roll = if original { self.rng.u8(..20) } else { self.rng.u8(..100) };
        let (kind, name) = match roll {
            0..10 => ("canonical", format!("{base} {}", company.legal).trim().to_string()),
            10..20 => ("no_suffix", base.clone()),
            20..35 => (
                "shouted",
                format!("{}, {}", base.to_uppercase(), company.legal.to_uppercase().replace('.', "")),
            ),
            35..50 => ("lowercase", base.to_lowercase()),
            50..65 => ("the_company", format!("The {base} Company")),
            65..80 => ("typo", self.typo(&base)),
            80..90 => return ("missing", None),
            _ => ("canonical", format!("{base} {}", company.legal).trim().to_string()),
        };
        (kind, Some(name))
    }

    /// One slip of the keyboard, never on the first letter: a letter dropped, doubled, swapped with
    /// its neighbour, or replaced.
    fn typo(&mut self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        if chars.len() < 3 {
            return text.to_string();
        }
        let at = self.rng.usize(1..chars.len() - 1);
        match self.rng.u8(..4) {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, chars[at]),
            2 => chars.swap(at, at + 1),
            _ => chars[at] = self.rng.lowercase(),
        }
        chars.into_iter().collect()
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
