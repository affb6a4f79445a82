/** Reference data for the seed: airports we serve and the routes between them. */
export const AIRPORTS = [
  { iata: 'RUH', name: 'King Khalid International Airport', city: 'Riyadh', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'JED', name: 'King Abdulaziz International Airport', city: 'Jeddah', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'DMM', name: 'King Fahd International Airport', city: 'Dammam', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'MED', name: 'Prince Mohammad bin Abdulaziz International Airport', city: 'Madinah', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'AHB', name: 'Abha International Airport', city: 'Abha', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'TIF', name: 'Taif International Airport', city: 'Taif', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'TUU', name: 'Tabuk Regional Airport', city: 'Tabuk', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'GIZ', name: 'King Abdullah bin Abdulaziz Airport', city: 'Jazan', country: 'SA', timeZone: 'Asia/Riyadh' },
  { iata: 'DXB', name: 'Dubai International Airport', city: 'Dubai', country: 'AE', timeZone: 'Asia/Dubai' },
  { iata: 'AUH', name: 'Zayed International Airport', city: 'Abu Dhabi', country: 'AE', timeZone: 'Asia/Dubai' },
  { iata: 'DOH', name: 'Hamad International Airport', city: 'Doha', country: 'QA', timeZone: 'Asia/Qatar' },
  { iata: 'BAH', name: 'Bahrain International Airport', city: 'Manama', country: 'BH', timeZone: 'Asia/Bahrain' },
  { iata: 'KWI', name: 'Kuwait International Airport', city: 'Kuwait City', country: 'KW', timeZone: 'Asia/Kuwait' },
  { iata: 'MCT', name: 'Muscat International Airport', city: 'Muscat', country: 'OM', timeZone: 'Asia/Muscat' },
  { iata: 'CAI', name: 'Cairo International Airport', city: 'Cairo', country: 'EG', timeZone: 'Africa/Cairo' },
  { iata: 'AMM', name: 'Queen Alia International Airport', city: 'Amman', country: 'JO', timeZone: 'Asia/Amman' },
  { iata: 'IST', name: 'Istanbul Airport', city: 'Istanbul', country: 'TR', timeZone: 'Europe/Istanbul' },
] as const;

/**
 * Routes as [a, b, block minutes, daily frequencies, base fare in SAR]; each is flown both ways.
 * Fares are whole riyals before the per-day variation; stored in halalas.
 */
export const ROUTES: [string, string, number, number, number][] = [
  ['RUH', 'JED', 110, 4, 420],
  ['RUH', 'DMM', 65, 3, 310],
  ['RUH', 'MED', 95, 2, 390],
  ['RUH', 'AHB', 105, 2, 380],
  ['RUH', 'TUU', 120, 1, 430],
  ['RUH', 'GIZ', 115, 1, 410],
  ['JED', 'DMM', 140, 2, 460],
  ['JED', 'MED', 60, 2, 260],
  ['JED', 'AHB', 75, 2, 300],
  ['JED', 'TIF', 45, 1, 220],
  ['JED', 'TUU', 95, 1, 360],
  ['DMM', 'MED', 130, 1, 440],
  ['RUH', 'DXB', 130, 3, 690],
  ['JED', 'DXB', 165, 2, 820],
  ['DMM', 'DXB', 80, 2, 520],
  ['RUH', 'AUH', 120, 1, 650],
  ['RUH', 'DOH', 95, 2, 610],
  ['JED', 'DOH', 150, 1, 790],
  ['DMM', 'BAH', 35, 3, 240],
  ['RUH', 'BAH', 80, 2, 450],
  ['RUH', 'KWI', 100, 2, 560],
  ['RUH', 'MCT', 150, 1, 780],
  ['RUH', 'CAI', 150, 2, 980],
  ['JED', 'CAI', 125, 2, 870],
  ['RUH', 'AMM', 140, 1, 940],
  ['JED', 'AMM', 130, 1, 890],
  ['RUH', 'IST', 270, 1, 1650],
  ['JED', 'IST', 255, 1, 1590],
];

/** Carrier code per origin country (the seed's fictional-but-plausible flight numbers). */
export const CARRIER_BY_COUNTRY: Record<string, string> = { SA: 'SV', AE: 'EK', QA: 'QR', BH: 'GF', KW: 'KU', OM: 'WY', EG: 'MS', JO: 'RJ', TR: 'TK' };
