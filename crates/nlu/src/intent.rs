//! Intent cues and the decision between them.

use crate::text::{Kind, Tok};
use crate::{Intent, Topic};

#[derive(Debug, Default)]
pub(crate) struct Cues {
    greeting: bool,
    thanks: bool,
    human: bool,
    cancel: bool,
    payment: bool,
    reserve: bool,
    /// Asks whether booking is possible ("se puede reservar…?").
    reserve_question: bool,
    price: bool,
    topic: Option<Topic>,
    avail: bool,
    avail_weak: bool,
    /// A change word without a target: a question about changes, or an unfinished request.
    change_word: bool,
    /// "puedo / podemos" before the change word: a question unless dates come with it.
    change_may: bool,
    /// Asks about the guest's own reservation ("¿está confirmada?", "¿por qué me cancelaron?").
    status: bool,
    /// "la más barata", "la más grande".
    sort: Option<crate::Sort>,
    /// "¿y la salida?", "¿el check out?": check-in / check-out words without a date.
    schedule_word: bool,
    /// Number of words that are none of the above and not filler.
    words: usize,
}

/// What the rest of the parser found.
pub(crate) struct Facts {
    pub check_in: bool,
    pub any_date: bool,
    pub length: bool,
    pub guests: bool,
    pub unit: bool,
    /// A named period, a month, or a shift of the remembered stay.
    pub period: bool,
    /// A constraint stated alone ("sin mascotas", "hasta 300 mil").
    pub wants: bool,
    /// An amenity required ("con parrilla", "que tenga pileta").
    pub required: bool,
    /// The period is a window to search in (a month, a week), not a stay.
    pub window: bool,
    /// "todo febrero".
    pub whole_month: bool,
}

fn starts(w: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| w.starts_with(p))
}

const STAFF: &[&str] = &[
    "alguien",
    "persona",
    "humano",
    "humana",
    "dueno",
    "duena",
    "duenos",
    "encargado",
    "encargada",
    "responsable",
    "operador",
    "operadora",
    "asesor",
    "asesora",
    "propietario",
    "propietaria",
    "administrador",
    "administradora",
    "gerente",
    "recepcion",
    "recepcionista",
    "telefono",
    "vendedor",
    "vendedora",
    "agente",
];

pub(crate) fn cues(t: &[Tok]) -> Cues {
    let words: Vec<&str> = t.iter().filter(|x| x.kind == Kind::Word).map(|x| x.text.as_str()).collect();
    let mut c = Cues::default();
    if t.iter().any(|x| x.is_sym('$')) {
        c.price = true;
    }
    let at = |i: isize| -> &str { if i < 0 { "" } else { words.get(i as usize).copied().unwrap_or("") } };
    // The first topic wins, except that a specific policy beats "policies" in general.
    let set_topic = |c: &mut Cues, tp: Topic| {
        if c.topic.is_none()
            || (c.topic == Some(Topic::Policies) && matches!(tp, Topic::Cancellation | Topic::DateChange))
        {
            c.topic = Some(tp);
        }
    };
    for (idx, &w) in words.iter().enumerate() {
        let i = idx as isize;
        let (p1, p2, p3) = (at(i - 1), at(i - 2), at(i - 3));
        let (n1, n2) = (at(i + 1), at(i + 2));
        let near_before = |set: &[&str]| set.contains(&p1) || set.contains(&p2) || set.contains(&p3);
        // Greeting
        if matches!(w, "hola" | "holis" | "ola" | "hello" | "hi" | "buenas" | "saludos")
            || (w == "buen" && n1.starts_with("dia"))
            || (w == "buenos" && matches!(n1, "dias" | "dia" | "tardes" | "noches"))
            || (w == "tal" && matches!(p1, "que" | "q"))
            || (matches!(w, "andan" | "estan" | "va" | "anda" | "andas" | "estas") && p1 == "como")
        {
            c.greeting = true;
            continue;
        }
        // Thanks
        if starts(w, &["graci", "grasi", "agradezc", "agradecid", "agradecem"])
            || matches!(w, "thanks" | "thx" | "gracia")
            || (starts(w, &["amable"]) && p1 == "muy")
        {
            c.thanks = true;
            continue;
        }
        // Cancel: "¿por qué me cancelaron?" asks about a booking; "¿y si tengo que cancelar?"
        // asks about the policy; "cancelala" acts.
        if w.starts_with("cancel") || starts(w, &["anular", "anulo", "anulen", "anula", "anulam"]) {
            let past = matches!(
                w,
                "cancelaron"
                    | "cancelada"
                    | "cancelado"
                    | "cancelaste"
                    | "cancelo"
                    | "cancelaran"
                    | "anularon"
                    | "anulada"
                    | "anulado"
            ) && (w != "cancelo" || p1 == "se" || p2 == "se");
            let conditional = near_before(&["si", "caso", "llegamos", "llego", "tuviera", "tuvieramos", "hubiera"])
                // "si se me complica y tengo que cancelar, ¿qué pasa?": a question about what
                // would happen, not a request.
                || (matches!(n1, "que" | "q") && n2 == "pasa")
                || (p1 == "que"
                    && matches!(p2, "tengo" | "tenemos" | "tendria" | "tendriamos")
                    && (4..=8).any(|k| at(i - k) == "si"))
                || (near_before(&["puede", "podria", "puedo", "podemos", "permite", "permiten"])
                    && !near_before(&["quiero", "queremos", "necesito", "necesitamos"]))
                || near_before(&["politica", "politicas", "condiciones", "condicion", "reglas"])
                || (w.starts_with("cancelacion")
                    && !near_before(&["quiero", "la", "necesito", "pido", "solicito"])
                    && n1 != "de");
            if past {
                c.status = true;
            } else if conditional {
                set_topic(&mut c, Topic::Cancellation);
            } else {
                c.cancel = true;
            }
            continue;
        }
        // Change of dates: "cambiame al 14" acts; "¿se puede cambiar la fecha?" asks; "quiero
        // pasar la reserva al finde siguiente" acts.
        if (matches!(
            w,
            "cambiar"
                | "cambiarla"
                | "cambiarlas"
                | "cambiame"
                | "cambiala"
                | "cambia"
                | "cambien"
                | "cambiemos"
                | "cambiamos"
                | "cambio"
                | "cambios"
                | "modificar"
                | "modificarla"
                | "modificame"
                | "modifica"
                | "reprogramar"
                | "reprogramarla"
                | "mover"
                | "moverla"
                | "movela"
                | "moveme"
                | "correrla"
                | "corremos"
                | "pasarla"
                | "pasala"
                | "pasamos"
                | "adelantar"
                | "adelantarla"
                | "postergar"
                | "postergarla"
                | "posponer"
        ) || (matches!(w, "pasar" | "pasame" | "pasas" | "pasan" | "pasanos" | "mover")
            && matches!(n1, "la" | "mi" | "nuestra")
            && n2.starts_with("reserva")))
            && !(w.starts_with("cambio") && n1 == "de" && !matches!(n2, "fecha" | "fechas" | "dia" | "reserva"))
        {
            let policy = near_before(&["si", "caso", "politica", "politicas", "condiciones", "tuviera"])
                || (w == "cambios" && !near_before(&["hacer", "quiero"]))
                || (near_before(&["puede", "podria", "permite", "permiten", "hay"])
                    && !near_before(&["quiero", "queremos", "necesito", "necesitamos", "podemos", "podes", "podrias"]));
            if policy {
                set_topic(&mut c, Topic::DateChange);
            } else {
                c.change_word = true;
                // "¿puedo cambiar las fechas después?" asks, unless new dates come with it.
                c.change_may |= near_before(&["puedo", "podemos", "podriamos"]);
            }
            continue;
        }
        // "¿se confirmó?", "¿está confirmada mi reserva?", "¿qué pasó con mi reserva?"
        if (matches!(w, "confirmada" | "confirmado" | "confirmo" | "confirmaron" | "confirmar")
            && (near_before(&["esta", "quedo", "se", "ya", "si", "fue"]) || n1 == "la" && n2 == "reserva"))
            && !near_before(&["quiero", "queremos", "para", "como"])
            && (w != "confirmo" || near_before(&["se"]))
            && (w != "confirmar" || near_before(&["si"]))
        {
            c.status = true;
            continue;
        }
        if matches!(w, "paso" | "pasa" | "onda") && matches!(p1, "que" | "q") && n1 == "con" {
            c.status = true;
            continue;
        }
        if w == "estado" && matches!(n1, "de" | "del") {
            c.status = true;
            continue;
        }
        if w == "baja" && p1 == "de" && matches!(p2, "dar" | "das" | "den" | "doy" | "des" | "dame") {
            c.cancel = true;
            continue;
        }
        if matches!(w, "ir" | "viajar" | "asistir" | "venir")
            && (near_before(&["no"]) && (near_before(&["poder", "podemos", "puedo", "vamos"])))
        {
            c.cancel = true;
            continue;
        }
        // Human
        if matches!(w, "humano" | "operador" | "operadora" | "asesor" | "asesora" | "robot" | "bot")
            || (w == "hablar" && (STAFF.contains(&n1) || STAFF.contains(&n2) || STAFF.contains(&at(i + 3))))
            || (STAFF.contains(&w) && near_before(&["con", "comunicas", "comunicar", "comunicame", "pasame", "pasas"]))
            || (w == "real" && p1 == "persona")
            || (w == "persona" && near_before(&["quiero", "atienda", "atender", "necesito"]))
            || matches!(w, "llamar" | "llamen" | "llame" | "llamada" | "llaman" | "llamame" | "llamenme" | "llamarme")
            || matches!(w, "atienda" | "atiendan" | "atenderme")
            || (w == "atencion" && matches!(n1, "personalizada" | "humana" | "personal"))
            || starts(w, &["comunicar", "comunicame", "comunicas", "comunican"])
            || (w == "con" && p1 == "pasame" && !n1.is_empty())
        {
            c.human = true;
            continue;
        }
        // How one can pay ("¿se puede pagar con transferencia?", "¿aceptan tarjeta?") and the
        // deposit rules ("¿cuánto es la seña?", "¿el saldo cuándo se paga?") are questions.
        if matches!(w, "saldo" | "resto") && !near_before(&["ya", "pague", "pagamos"]) {
            set_topic(&mut c, Topic::Deposit);
            continue;
        }
        if matches!(w, "sena" | "senas" | "deposito" | "anticipo")
            && (near_before(&["cuanto", "cuanta", "porcentaje", "como"]) && !near_before(&["pago", "pagar", "pague"])
                || matches!(n1, "es" | "cuanto"))
            && !near_before(&["ya", "pague", "pagamos"])
        {
            set_topic(&mut c, Topic::Deposit);
            continue;
        }
        let method =
            starts(w, &["transfer", "tarjeta", "debito", "credito", "efectivo", "mercadopago", "cuota", "paypal"])
                || matches!(
                    w,
                    "cbu" | "cvu" | "alias" | "visa" | "mastercard" | "dolares" | "usd" | "cash" | "medios" | "formas"
                ) && (n1 == "de" || !matches!(w, "medios" | "formas"));
        if method
            && (near_before(&[
                "puede", "puedo", "podemos", "aceptan", "acepta", "toman", "reciben", "hay", "se", "con", "cual",
                "cuales", "en", "formas", "medios", "datos",
            ]) || matches!(w, "medios" | "formas"))
            && !near_before(&["ya", "te", "les", "hice", "hicimos", "mande", "mando", "paso", "adjunto"])
        {
            set_topic(&mut c, Topic::PaymentMethods);
            continue;
        }
        // Payment
        if (w.starts_with("pag") && !w.starts_with("pagin"))
            || starts(
                w,
                &[
                    "abon",
                    "transfer",
                    "comprobante",
                    "deposit",
                    "tarjeta",
                    "debito",
                    "credito",
                    "efectivo",
                    "mercadopago",
                    "cuota",
                    "factura",
                    "recibo",
                    "paypal",
                ],
            )
            || matches!(w, "sena" | "senas" | "mp" | "cbu" | "cvu" | "alias" | "visa" | "mastercard" | "link")
        {
            c.payment = true;
            continue;
        }
        // Reserve
        if w.starts_with("reserv") {
            let noun = matches!(w, "reserva" | "reservas" | "reservacion" | "reservado" | "reservada");
            let asking =
                near_before(&["puede", "puedo", "podemos", "podria", "podriamos", "para", "si", "posible", "pueda"]);
            let doing = near_before(&[
                "hacer",
                "hago",
                "hacemos",
                "haria",
                "hariamos",
                "confirmo",
                "confirmar",
                "confirmamos",
                "confirma",
                "quiero",
                "quisiera",
                "queremos",
                "quisieramos",
                "gustaria",
                "necesito",
                "necesitamos",
                "concretar",
                "cerrar",
                "cerramos",
                "tomar",
                "realizar",
            ]);
            let article = matches!(
                p1,
                "la" | "una"
                    | "mi"
                    | "su"
                    | "tu"
                    | "de"
                    | "nuestra"
                    | "esta"
                    | "esa"
                    | "las"
                    | "mis"
                    | "tus"
                    | "sus"
                    | "del"
                    | "otra"
            );
            if noun {
                if doing || !article {
                    c.reserve = true;
                }
            } else if asking && !near_before(&["quiero", "queremos", "quisiera"]) {
                c.reserve_question = true;
            } else {
                c.reserve = true;
            }
            continue;
        }
        if (matches!(w, "tomo" | "tomamos" | "quedo" | "quedamos") && matches!(p1, "la" | "lo"))
            || starts(w, &["apartam", "apartal", "bloqueam", "alquilar", "alquilo", "alquilamos"])
            || (matches!(w, "confirmo" | "confirmamos") && !matches!(n1, "si" | "que"))
        {
            c.reserve = true;
            continue;
        }
        // "la más barata" / "¿cuál sale menos?" ask for a price; "la más grande" about the cabins.
        if ((w.starts_with("barat") || w.starts_with("economic")) && (p1 == "mas" || p2 == "mas" || p1 == "lo"))
            || (w == "menos" && matches!(p1, "sale" | "salga" | "salen" | "cuesta" | "cueste" | "cuestan"))
        {
            c.sort = Some(crate::Sort::Cheapest);
            c.price = true;
            continue;
        }
        if matches!(w, "grande" | "amplia" | "amplio" | "espaciosa") && p1 == "mas" {
            c.sort = Some(crate::Sort::Biggest);
            set_topic(&mut c, Topic::Amenities);
            continue;
        }
        // "¿la seña se devuelve?": the cancellation policy.
        if starts(w, &["devuel", "reintegr", "reembols"]) {
            set_topic(&mut c, Topic::Cancellation);
            continue;
        }
        // "¿y el total?"
        if w == "total" && matches!(p1, "el" | "y") && !matches!(n1, "somos" | "personas") {
            c.price = true;
            continue;
        }
        // Price
        if starts(w, &["precio", "tarifa", "valor", "costo", "cotiz", "presupuest", "descuento", "promo", "oferta"])
            || matches!(
                w,
                "cuanto" | "cuesta" | "cuestan" | "saldria" | "costaria" | "cobran" | "cobras" | "cobrarian" | "cobrar"
            )
            || (matches!(w, "sale" | "salen" | "seria") && matches!(p1, "cuanto" | "que" | "me" | "nos"))
        {
            c.price = true;
            continue;
        }
        if matches!(w, "salida" | "entrada" | "checkout" | "checkin" | "ingreso" | "egreso")
            || (matches!(w, "out" | "in") && matches!(p1, "check" | "chek"))
        {
            c.schedule_word = true;
        }
        // Info topics
        let topic = if (starts(w, &["mascot", "perr", "gato", "animal", "petfriendly"])
            || (w == "pet" && n1 == "friendly"))
            && !near_before(&["sin"])
        {
            Some(Topic::Pets)
        } else if starts(w, &["pileta", "piscina", "pile"]) {
            Some(Topic::Pool)
        } else if w == "wifi" || w == "internet" || (w == "wi" && n1 == "fi") || w == "senal" {
            Some(Topic::Wifi)
        } else if starts(w, &["estacionam", "estacionar", "cochera", "garage", "garaje"]) {
            Some(Topic::Parking)
        } else if starts(w, &["parrill", "asador", "quincho", "parri", "asado"]) {
            Some(Topic::Grill)
        } else if (w == "cerca"
            && (matches!(n1, "hay" | "para" | "?" | "") && !matches!(p1, "queda" | "esta" | "estan")
                || near_before(&["hacer", "hay", "que"]))
            && !matches!(n1, "del" | "de"))
            || starts(
                w,
                &[
                    "actividad",
                    "excursion",
                    "paseo",
                    "atraccion",
                    "restaurant",
                    "restoran",
                    "supermercad",
                    "almacen",
                    "proveeduria",
                    "farmacia",
                    "turismo",
                ],
            )
            || (w == "hacer"
                && matches!(p1, "para" | "que")
                && !near_before(&["puedo", "tengo", "debo", "hay", "como"]))
        {
            Some(Topic::Nearby)
        } else if starts(
            w,
            &["ubicac", "ubicad", "direccion", "maps", "mapa", "cuadra", "lejos", "cerca", "coordenadas"],
        ) || (w == "donde"
            && matches!(n1, "queda" | "quedan" | "esta" | "estan" | "se" | "quedaria" | "estaria" | "son"))
        {
            Some(Topic::Location)
        } else if (matches!(w, "llego" | "llegar" | "llega" | "llegamos" | "voy") && near_before(&["como"]))
            || starts(w, &["colectivo", "micro", "indicacion", "ruta"])
        {
            Some(Topic::Directions)
        } else if starts(w, &["horario"])
            || (w == "hora" && matches!(p1, "que" | "q"))
            || (w == "hora" && matches!(n1, "de" | "del" | "es"))
        {
            Some(Topic::Schedule)
        } else if starts(w, &["foto", "imagen", "video"]) {
            Some(Topic::Photos)
        } else if starts(w, &["toalla", "sabana", "blanco", "incluye", "incluid", "desayun", "acolchad", "frazada"])
            || (w == "ropa" && n1 == "de" && n2 == "cama")
            || (w == "cama" && p1 == "de" && p2 == "ropa")
        {
            Some(Topic::Included)
        } else if (starts(w, &["nino", "nina", "chic", "nene", "nena", "bebe", "menores", "cuna", "hijo"])
            && !matches!(
                p1,
                "2" | "dos" | "3" | "tres" | "4" | "cuatro" | "un" | "una" | "y" | "los" | "mis" | "con" | "adultos"
            )
            || (starts(w, &["nino", "chic", "nene", "bebe", "menores"])
                && matches!(p1, "con" | "los")
                && matches!(p2, "ir" | "puede" | "aceptan" | "llevar" | "apto" | "apta" | "pueden")))
            && !near_before(&["somos", "vamos", "adultos"])
        {
            Some(Topic::Children)
        } else if starts(w, &["accesib", "discapacid", "rampa"])
            || (w == "ruedas" && p1 == "de")
            || (w == "reducida" && p1 == "movilidad")
        {
            Some(Topic::Accessibility)
        } else if starts(
            w,
            &[
                "desayun",
                "toalla",
                "sabana",
                "calefac",
                "estufa",
                "cocina",
                "heladera",
                "microonda",
                "televis",
                "lavarropa",
                "secador",
                "jacuzzi",
                "hidromasaje",
                "amenities",
                "servicio",
                "incluye",
                "incluid",
                "vista",
                "lago",
                "capacidad",
                "ambientes",
                "camas",
                "dormitorio",
                "habitacion",
                "sommier",
                "limpieza",
                "blanco",
                "ropa",
                "vajilla",
                "hogar",
                "salamandra",
                "calefon",
                "agua",
                "luz",
                "ventilador",
                "caben",
                "entran",
                "playa",
                "juegos",
                "gimnasio",
                "spa",
                "sauna",
                "bano",
                "banos",
                "balcon",
                "terraza",
                "patio",
                "jardin",
                "tv",
                "smart",
                "netflix",
                "cable",
                "directv",
            ],
        ) || (w == "aire" && n1.starts_with("acond"))
        {
            Some(Topic::Amenities)
        } else if starts(w, &["politica", "norma", "regla", "fumar", "ruido", "deposito"]) {
            Some(Topic::Policies)
        } else {
            None
        };
        if let Some(tp) = topic {
            set_topic(&mut c, tp);
            continue;
        }
        // Availability
        if starts(w, &["disponib", "dispo", "libre", "vacant", "ocupad", "busco", "buscamos", "buscando"])
            || (w == "lugar"
                && (matches!(
                    p1,
                    "hay"
                        | "tienen"
                        | "tenes"
                        | "tendrian"
                        | "tendras"
                        | "queda"
                        | "quedan"
                        | "habra"
                        | "habria"
                        | "tenian"
                        | "algun"
                        | "tendran"
                        | "tiene"
                        | "hubiera"
                ) || matches!(
                    n1,
                    "para" | "libre" | "disponible" | "el" | "del" | "esta" | "este" | "en" | "hoy" | "manana"
                )))
            || (w == "algo"
                && matches!(p1, "tienen" | "tenes" | "hay" | "queda" | "tendrian" | "tendras" | "tendran" | "tiene")
                && !(matches!(n1, "para" | "que") && n2 == "hacer"))
            || (matches!(w, "queda" | "quedan")
                && matches!(n1, "algo" | "alguna" | "algun" | "lugar" | "cabanas" | "cabana" | "libre" | "libres"))
            || (matches!(w, "consulto" | "consultar" | "consulta") && n1.starts_with("dispo"))
        {
            c.avail = true;
            continue;
        }
        if (w == "puede" && p1 == "se")
            || matches!(w, "ir" | "viajar" | "quedarnos" | "hospedarnos" | "alojarnos" | "hay" | "tienen" | "tenes")
        {
            c.avail_weak = true;
            continue;
        }
        if !FILLER.contains(&w) && w.len() > 1 {
            c.words += 1;
        }
    }
    c
}

/// Words that carry no intent by themselves.
const FILLER: &[&str] = &[
    "el",
    "la",
    "los",
    "las",
    "un",
    "una",
    "de",
    "del",
    "al",
    "a",
    "y",
    "o",
    "que",
    "q",
    "en",
    "para",
    "por",
    "x",
    "con",
    "me",
    "te",
    "se",
    "nos",
    "mi",
    "tu",
    "su",
    "es",
    "son",
    "si",
    "no",
    "ok",
    "dale",
    "bueno",
    "porfa",
    "favor",
    "quiero",
    "queremos",
    "quisiera",
    "queria",
    "saber",
    "consulta",
    "consultar",
    "consulto",
    "cabana",
    "cabanas",
    "noche",
    "noches",
    "somos",
    "personas",
    "persona",
    "adultos",
    "ninos",
    "chicos",
    "fecha",
    "fechas",
    "esas",
    "esa",
    "esta",
    "este",
    "le",
    "lo",
    "les",
    "ya",
    "tambien",
    "tb",
    "pero",
    "como",
    "cuando",
    "semana",
    "fin",
    "finde",
    "hoy",
    "manana",
    "pasado",
    "desde",
    "hasta",
    "entre",
    "y",
    "unos",
    "unas",
    "algo",
    "alguna",
    "alguno",
    "hola",
    "buenas",
    "estamos",
    "vamos",
    "ser",
    "mas",
    "muy",
    "bien",
    "genial",
    "perfecto",
    "listo",
    "buenisimo",
    "barbaro",
    "joya",
    "entonces",
    "tengo",
    "tenemos",
    "necesito",
    "necesitamos",
    "sus",
    "uds",
    "ustedes",
    "vos",
    "usted",
    "hay",
    "tienen",
    "tenes",
    "tiene",
    "disculpa",
    "disculpe",
    "perdon",
    "che",
    "gente",
    "amigos",
    "familia",
    "pareja",
    "yo",
    "mis",
    "tus",
    "ese",
    "eso",
    "esto",
    "podria",
    "podrian",
    "puedo",
    "pueden",
    "podes",
    "seria",
    "sera",
    "sea",
    "hacer",
    "entrada",
    "salida",
    "llegamos",
    "nos",
    "check",
    "in",
    "out",
    "dias",
    "dia",
];

pub(crate) fn decide(c: &Cues, f: &Facts) -> (Intent, f32, Option<Topic>) {
    let strong_others = |skip: usize| -> usize {
        [c.cancel, c.human, c.payment, c.reserve].iter().enumerate().filter(|(i, b)| *i != skip && **b).count()
    };
    // A stay-like period or a shift of the remembered stay counts as dates; a window does not.
    let stay = f.check_in || (f.period && !f.window);
    let slots = f.any_date || f.guests || f.length || f.period;
    if c.cancel {
        let conf = if strong_others(0) > 0 { 0.72 } else { 0.92 };
        return (Intent::Cancel, conf, None);
    }
    if c.status && !c.change_word {
        return (Intent::Status, 0.88, None);
    }
    if c.human {
        let conf = if strong_others(1) > 0 { 0.72 } else { 0.92 };
        return (Intent::Human, conf, None);
    }
    if c.change_word && c.change_may && !slots {
        return (Intent::Info, 0.8, Some(Topic::DateChange));
    }
    if c.change_word {
        return (Intent::Change, if slots { 0.88 } else { 0.8 }, None);
    }
    // "¿Si cancelo me devuelven la seña?": the policy, whatever money words it mentions.
    if let Some(tp @ (Topic::Cancellation | Topic::DateChange)) = c.topic
        && !c.reserve
    {
        return (Intent::Info, 0.88, Some(tp));
    }
    // "¿Se puede pagar con transferencia?", "¿cuánto es la seña?": how paying works.
    if let Some(tp @ (Topic::PaymentMethods | Topic::Deposit)) = c.topic
        && !c.reserve
    {
        return (Intent::Info, if c.payment { 0.85 } else { 0.88 }, Some(tp));
    }
    if c.payment {
        let conf = if c.reserve || c.price { 0.72 } else { 0.9 };
        return (Intent::Payment, conf, None);
    }
    // Booking needs nights: "queremos alquilar febrero entero" asks what is free in it.
    if c.reserve && (stay || !f.window) {
        let conf = if c.topic.is_some() || c.price { 0.8 } else { 0.92 };
        return (Intent::Reserve, conf, None);
    }
    if c.reserve {
        return (Intent::Availability, 0.85, None);
    }
    if c.avail || c.reserve_question {
        let conf = if slots || c.reserve_question { 0.95 } else { 0.88 };
        return (Intent::Availability, conf, None);
    }
    if c.price {
        // A quote for a stay, or for a whole month; "tarifas para enero" is the price list.
        if stay || f.whole_month {
            return (Intent::Availability, 0.82, None);
        }
        let conf = if c.topic.is_some() { 0.75 } else { 0.9 };
        return (Intent::Price, conf, None);
    }
    if let Some(tp) = c.topic {
        // "que tenga pileta, somos 6": a search with a requirement.
        let searching = stay || (f.required && f.guests);
        if searching && !matches!(tp, Topic::Schedule | Topic::Cancellation | Topic::DateChange | Topic::Included) {
            // Dates and a party with it: a complete search ("llevamos a la perra, somos 2 del
            // 10 al 14"); dates alone with a topic may be a question about those days.
            return (Intent::Availability, if f.check_in && f.guests { 0.85 } else { 0.7 }, None);
        }
        return (Intent::Info, if c.avail_weak && slots { 0.7 } else { 0.88 }, Some(tp));
    }
    if f.any_date || f.period {
        return (Intent::Availability, if c.words > 4 { 0.75 } else { 0.88 }, None);
    }
    if c.schedule_word && !f.guests && !f.length {
        return (Intent::Info, 0.8, Some(Topic::Schedule));
    }
    if f.guests || f.length || f.wants {
        return (Intent::Availability, if c.avail_weak || f.guests { 0.8 } else { 0.7 }, None);
    }
    if c.avail_weak {
        return (Intent::Availability, 0.55, None);
    }
    if c.thanks {
        return (Intent::Thanks, if c.words > 3 { 0.75 } else { 0.92 }, None);
    }
    if c.greeting {
        // "hola, soy de una agencia de marketing…": a greeting that goes somewhere else.
        return if c.words > 3 { (Intent::Unknown, 0.4, None) } else { (Intent::Greeting, 0.95, None) };
    }
    if f.unit {
        return (Intent::Availability, 0.5, None);
    }
    let conf = if c.words == 0 { 0.1 } else { 0.3 };
    (Intent::Unknown, conf, None)
}
